"""The PostgreSQL engine's connection: a pool every table module shares, numbered migrations
applied under a lock, and a transaction around every change of more than one row.

Deleting a row in PostgreSQL leaves a dead tuple behind until VACUUM (autovacuum, by
default) reclaims it; PostgreSQL has no `secure_delete`. What such a tuple of `member_keys`
still holds is the sealed key, Fernet ciphertext bound to its owner, and the masked hint:
never a key in the clear. The rows are deleted all the same, so nothing is served from them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self, TypeAlias
from urllib.parse import unquote, urlsplit

import asyncpg

from bot.domain import AuditRecord
from bot.ports import StoreError
from storage.errors import StorageConfigError
from storage.postgres.fair_pool import FairPool
from storage.postgres.point_reader import PointReader
from storage.schema import (
    DEFAULT_SETTING,
    Migration,
    SchemaChange,
    ahead,
    check_version,
    read_migrations,
)

# How long to wait for the server at start-up before calling it unreachable.
CONNECT_TIMEOUT_SECONDS = 10.0
# Any fixed number, the same in every byok-bot process: whoever holds it migrates.
MIGRATION_LOCK = 0x62796F6B  # "byok"

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # Generic in the stubs only.
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release, after asyncpg has rolled back any open transaction.

    asyncpg's default also sends `RESET ALL`, `UNLISTEN *`, `CLOSE ALL` and
    `pg_advisory_unlock_all()`: a second round trip after every pooled call, which doubled
    the cost of a one-statement read. Nothing here leaves such state in a session: settings
    are changed only for their transaction (`set_config(..., true)`), locks are transaction
    locks, there are no LISTENs and no cursors outside a transaction
    (tests/test_store_contract.py checks each pooled session after every contract test).
    """


def utc(moment: datetime) -> datetime:
    """Like SQLite's stored text, a naive time is read as local time."""
    return moment.astimezone(UTC)


def affected(status: str) -> int:
    """The row count of a command tag such as `UPDATE 1` or `DELETE 3`."""
    return int(status.rsplit(" ", 1)[-1])


def migrations() -> list[Migration]:
    return read_migrations("postgres")


def _latest() -> int:
    known = migrations()
    return known[-1].version if known else 0


def describe(url: str) -> tuple[str, str, str]:
    """Where a URL points, as (host:port, database, user), without its password: these go
    into the one line an operator reads when the server cannot be used."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "the local socket"
        port = parts.port or 5432
        database = unquote(parts.path.lstrip("/")) or "(default)"
        user = unquote(parts.username or "") or "(default)"
    except ValueError:
        return ("(unreadable address)", "(default)", "(default)")
    return (f"{host}:{port}", database, user)


def _refusal(error: BaseException, url: str, setting: str) -> StorageConfigError:
    """The one line for a server that cannot be used, naming the setting (DATABASE_URL, or
    copy-db's --from / --to) and what to do."""
    where, database, user = describe(url)
    match error:
        case asyncpg.InvalidPasswordError():
            text = (
                f"PostgreSQL at {where} refused the password of user {user!r};"
                f" fix the user or the password in {setting}"
            )
        case asyncpg.InvalidCatalogNameError():
            text = (
                f"database {database!r} does not exist on {where};"
                f" create it (createdb {database}) or fix the name in {setting}"
            )
        case asyncpg.InvalidAuthorizationSpecificationError():
            text = (
                f"PostgreSQL at {where} refused user {user!r} ({error});"
                f" fix the user in {setting} or the server's pg_hba.conf"
            )
        case asyncpg.InsufficientPrivilegeError():
            # Migrating needs CREATE on the schema; starting only needs to read and write rows.
            text = (
                f"user {user!r} lacks a privilege in database {database!r} ({error}); grant it"
                " CREATE on the database's schema to migrate, and SELECT, INSERT, UPDATE and"
                " DELETE on byok-bot's tables to run, or use the database's owner"
            )
        case asyncpg.PostgresError():
            text = f"PostgreSQL at {where} refused the connection ({error}); check {setting}"
        case ValueError():  # asyncpg's ClientConfigurationError is one too
            text = (
                f"not a PostgreSQL URL asyncpg can use ({error});"
                " write postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        case _:  # OSError, TimeoutError: nothing answered, or nothing there speaks PostgreSQL
            if isinstance(error, ConnectionRefusedError):
                reason = "connection refused"
            elif isinstance(error, TimeoutError):
                reason = f"no answer within {CONNECT_TIMEOUT_SECONDS:.0f} s"
            else:
                reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            text = (
                f"cannot reach PostgreSQL at {where} ({reason});"
                f" start the server or fix the host and port in {setting}"
            )
    return StorageConfigError(f"{setting}: {text}")


# Raised at start-up by asyncpg for a server that is down, refuses us or speaks no PostgreSQL.
_START_FAILURES = (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError)
# Raised while running: the server went away, a connection broke, a statement failed.
# (A connection cut mid-statement can also leave asyncpg's protocol in an InternalClientError;
# the pool replaces that connection when it comes back.)
_RUN_FAILURES = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


class PostgresConnection:
    """The pool every table module shares, and its transaction discipline."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool[asyncpg.Record],
        where: str,
        point_reader: PointReader | None = None,
    ) -> None:
        self._pool = FairPool(pool)
        self._where = where
        self._point_reader = point_reader
        # When this process next sweeps expired shared state (storage/postgres/shared.py).
        self._next_state_sweep: datetime | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server={self._where!r})"

    @classmethod
    async def open(cls, *, url: str, pool_size: int, setting: str = DEFAULT_SETTING) -> Self:
        """Connect and check that the schema is the one this code knows; a server that
        cannot be used, or a schema behind or ahead of the code, raises StorageConfigError
        in one line. Never migrates: with many processes that is the operator's step."""
        store = await cls._connect(url=url, pool_size=pool_size, setting=setting)
        try:
            check_version(await store._read_version(), _latest(), setting=setting)
        except StorageConfigError:
            await store.close()
            raise
        except _START_FAILURES as error:
            await store.close()
            raise _refusal(error, url, setting) from None
        except BaseException:
            store._pool.terminate()
            raise
        if pool_size > 1:
            # One of the process's connections reads a turn's rows; the pool has the rest.
            store._point_reader = PointReader(url=url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
            try:
                await store._point_reader.connect()
            except BaseException:
                # Cancelled while connecting (start-up interrupted): nothing is left open.
                store._pool.terminate()
                raise
        return store

    @classmethod
    async def migrate(cls, *, url: str, setting: str = DEFAULT_SETTING) -> SchemaChange:
        """Apply the migrations the database lacks and say what was done; a schema newer
        than this code raises SchemaMismatch and is left alone."""
        store = await cls._connect(url=url, pool_size=1, setting=setting)
        try:
            return await store._migrate(setting=setting)
        except StorageConfigError:
            raise
        except _START_FAILURES as error:
            raise _refusal(error, url, setting) from None
        except StoreError as error:
            raise _refusal(error.__cause__ or error, url, setting) from None
        finally:
            await store._pool.close()

    @classmethod
    async def _connect(cls, *, url: str, pool_size: int, setting: str) -> Self:
        where, database, _ = describe(url)
        try:
            # One connection at start proves the address, the password and the database;
            # the others open as turns need them.
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                # With more than one connection, one is the point reader's (see open).
                max_size=pool_size - 1 if pool_size > 1 else pool_size,
                timeout=CONNECT_TIMEOUT_SECONDS,
                reset=_keep_session,
            )
        except _START_FAILURES as error:
            raise _refusal(error, url, setting) from None
        return cls(pool=pool, where=f"{where}/{database}")

    async def close(self) -> None:
        try:
            if self._point_reader is not None:
                await self._point_reader.close()
        finally:
            await self._pool.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """One transaction; the driver's errors come out as StoreError after the rollback,
        so a failed write is known to have changed nothing."""
        # asyncpg rolls back on any exception, a cancel included, and the pool resets the
        # connection before anyone else gets it (a broken one is replaced by a new one).
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield connection
        except _RUN_FAILURES as error:
            raise StoreError(f"database write failed: {error}") from error

    async def _write_returning(self, sql: str, *parameters: object) -> asyncpg.Record | None:
        """One statement that is its own transaction (one round trip), and its row."""
        try:
            return await self._pool.fetchrow(sql, *parameters)
        except _RUN_FAILURES as error:
            raise StoreError(f"database write failed: {error}") from error

    async def _all(self, sql: str, parameters: Sequence[object] = ()) -> list[asyncpg.Record]:
        try:
            return await self._pool.fetch(sql, *parameters)
        except _RUN_FAILURES as error:
            raise StoreError(f"database read failed: {error}") from error

    async def _point_read(
        self, sql: str, parameters: Sequence[object] = ()
    ) -> list[asyncpg.Record]:
        """A statement reading a few rows by key (a turn's context, a key): on the point
        reader's own connection when it is free (storage/postgres/point_reader.py), else
        through the pool like any read."""
        if self._point_reader is not None:
            rows = await self._point_reader.fetch(sql, parameters)
            if rows is not None:
                return rows
        return await self._all(sql, parameters)

    async def _one(self, sql: str, parameters: Sequence[object] = ()) -> asyncpg.Record | None:
        rows = await self._all(sql, parameters)
        return rows[0] if rows else None

    async def _migrate(self, *, setting: str) -> SchemaChange:
        known = migrations()
        latest = _latest()
        # Reading the version and migrating are one transaction under one lock: of many
        # `byok-bot migrate` run at once, one migrates while the others wait here, then find
        # the schema current. The lock ends with the transaction.
        async with self._transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"
            )
            current = int(await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            if current > latest:
                raise ahead(current, latest, setting=setting)
            pending = tuple(migration for migration in known if migration.version > current)
            for migration in pending:
                await db.execute(migration.script)
                await db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, now())",
                    migration.version,
                )
        return SchemaChange(before=current, after=max(current, latest), applied=pending)

    async def _read_version(self) -> int:
        """0 for a database no migration has touched yet; the driver's errors as they are."""
        async with self._pool.acquire() as connection:
            if await connection.fetchval("SELECT to_regclass('schema_version')") is None:
                return 0
            return int(
                await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            )

    async def schema_version(self) -> int:
        try:
            return await self._read_version()
        except _RUN_FAILURES as error:
            raise StoreError(f"database read failed: {error}") from error

    @staticmethod
    async def _insert_audit(db: Connection, record: AuditRecord) -> None:
        await db.execute(
            "INSERT INTO audit_events (at, platform, workspace, user_id, event, outcome, place)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            utc(record.at),
            record.platform,
            record.workspace,
            record.user,
            record.event,
            record.outcome,
            record.place,
        )
