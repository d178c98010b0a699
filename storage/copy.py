"""`byok-bot copy-db`: every row of one database into another, either engine to either.

Sealed keys are copied as the bytes they are: the same master keys open them on the other
side, and nothing here can open them. The target is migrated first and then written in one
transaction, so a copy that fails part-way leaves its rows as they were; the source is only
read, in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from bot.ports import StoreError
from storage.errors import StorageConfigError
from storage.factory import Database, migrate_database, open_engine, sqlite_path
from storage.postgres.connection import describe
from storage.schema import SchemaChange
from storage.tables import TABLES, RowSource, RowTarget


class CopyFailed(StorageConfigError):
    """The copy did not happen; the target's rows are as they were. One line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TableCount:
    table: str
    source: int
    target: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyReport:
    source: str
    target: str
    target_schema: SchemaChange
    counts: tuple[TableCount, ...]

    @property
    def rows(self) -> int:
        return sum(count.target for count in self.counts)


async def copy_database(*, source: Database, target: Database, force: bool) -> CopyReport:
    """Copy every row of `source` into `target`, refusing a target that holds rows unless
    `force` (which empties it in the same transaction). Raises StorageConfigError, one line
    naming --from or --to, for anything the operator can fix."""
    _refuse_the_same_database(source, target)
    # Checked, never migrated: the source is left exactly as it was, and one behind the
    # code would not have the columns the copy reads.
    reading = await open_engine(source, read_only=True)
    try:
        change = await migrate_database(target)
        writing = await open_engine(target)
        try:
            counts = await copy_rows(
                source=reading, target=writing, force=force, target_setting=target.setting
            )
        finally:
            await writing.close()
    finally:
        await reading.close()
    return CopyReport(
        source=source.describe(), target=target.describe(), target_schema=change, counts=counts
    )


async def copy_rows(
    *, source: RowSource, target: RowTarget, force: bool, target_setting: str = "--to"
) -> tuple[TableCount, ...]:
    """Every table of TABLES from one snapshot of `source` into one transaction on `target`,
    each table's count compared before it commits."""
    counts: list[TableCount] = []
    try:
        async with source.reading() as reader, target.writing() as writer:
            held = [table.name for table in TABLES if await writer.count(table)]
            if held and not force:
                raise CopyFailed(
                    f"{target_setting}: the database already holds rows ({', '.join(held)});"
                    " nothing was copied. Copy into an empty database, or add --force to"
                    " replace every row in it"
                )
            for table in reversed(TABLES):
                await writer.clear(table)
            for table in TABLES:
                expected = await reader.count(table)
                read = 0
                async for batch in reader.rows(table):
                    await writer.insert(table, batch)
                    read += len(batch)
                landed = await writer.count(table)
                if not expected == read == landed:
                    raise CopyFailed(
                        f"{target_setting}: table {table.name} has {expected} rows in the"
                        f" source, {read} were read and {landed} landed; nothing was copied"
                    )
                counts.append(TableCount(table=table.name, source=expected, target=landed))
    except StoreError as error:
        raise CopyFailed(
            f"copy-db failed and changed nothing in {target_setting}: {error}"
        ) from None
    except ValueError as error:
        # A value one engine holds and the other's column cannot (SQLite types loosely).
        raise CopyFailed(
            f"copy-db failed and changed nothing in {target_setting}: a row could not be"
            f" converted ({error})"
        ) from None
    return tuple(counts)


def _refuse_the_same_database(source: Database, target: Database) -> None:
    # --force would empty the source before reading it.
    if source.is_postgres != target.is_postgres:
        return
    if source.is_postgres:
        same = describe(source.url)[:2] == describe(target.url)[:2]
    else:
        same = _resolved(source) == _resolved(target)
    if same:
        raise StorageConfigError(
            "--to: names the same database as --from; copy into another database"
        )


def _resolved(database: Database) -> str:
    return str(sqlite_path(database.url, setting=database.setting).resolve())
