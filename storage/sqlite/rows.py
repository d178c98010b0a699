"""Whole tables in and out, for `byok-bot copy-db`: rows as storage/tables.py spells them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiosqlite

from storage.sqlite.connection import SqliteConnection, iso_time
from storage.tables import ColumnKind, Row, Table

BATCH = 1000


def _from_column(kind: ColumnKind, value: object) -> object:
    if value is None:
        return None
    match kind:
        case "time":
            return datetime.fromisoformat(str(value))
        case "seconds":
            if not isinstance(value, int | float):
                raise ValueError(f"not seconds since the epoch: {type(value).__name__}")
            return datetime.fromtimestamp(value, UTC)
        case "flag":
            return bool(value)
        case "list" | "object":
            return json.loads(str(value))
        case "bytes":
            return bytes(value) if isinstance(value, bytes | memoryview) else value
        case _:
            return value


def _to_column(kind: ColumnKind, value: object) -> object:
    if value is None:
        return None
    match kind:
        case "time" | "seconds":
            if not isinstance(value, datetime):
                raise ValueError(f"not a time: {type(value).__name__}")
            return iso_time(value) if kind == "time" else value.timestamp()
        case "flag":
            return int(bool(value))
        case "list" | "object":
            return json.dumps(value)
        case _:
            return value


class _Reader:
    def __init__(self, *, store: SqliteConnection) -> None:
        self._store = store

    async def count(self, table: Table) -> int:
        row = await self._store._one(f"SELECT COUNT(*) FROM {table.name}")  # noqa: S608
        return int(row[0]) if row else 0

    async def rows(self, table: Table) -> AsyncIterator[Sequence[Row]]:
        # A page at a time by rowid, each read whole: no statement stays open across an
        # await (see SqliteConnection._all), and memory stays flat for a large usage table.
        columns = ", ".join(table.column_names)
        after = -(2**63)
        while True:
            page = await self._store._all(
                f"SELECT rowid, {columns} FROM {table.name}"  # noqa: S608 - names from TABLES
                " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, BATCH),
            )
            if not page:
                return
            after = int(page[-1][0])
            yield [
                tuple(
                    _from_column(kind, value)
                    for (_, kind), value in zip(table.columns, tuple(row)[1:], strict=True)
                )
                for row in page
            ]


class _Writer:
    def __init__(self, *, db: aiosqlite.Connection) -> None:
        self._db = db
        self.cleared = False

    async def count(self, table: Table) -> int:
        rows = await self._db.execute_fetchall(f"SELECT COUNT(*) FROM {table.name}")  # noqa: S608
        return int(next(iter(rows))[0])

    async def clear(self, table: Table) -> None:
        await self._db.execute(f"DELETE FROM {table.name}")  # noqa: S608
        self.cleared = True

    async def insert(self, table: Table, rows: Sequence[Row]) -> None:
        places = ", ".join("?" for _ in table.columns)
        await self._db.executemany(
            f"INSERT INTO {table.name} ({', '.join(table.column_names)})"  # noqa: S608
            f" VALUES ({places})",
            [
                tuple(
                    _to_column(kind, value)
                    for (_, kind), value in zip(table.columns, row, strict=True)
                )
                for row in rows
            ],
        )


class RowCopy(SqliteConnection):
    @asynccontextmanager
    async def reading(self) -> AsyncIterator[_Reader]:
        # One read transaction is one snapshot of the file: WAL lets the bot's writer go on
        # meanwhile without the copy seeing any of it. Under the write lock, since the
        # transaction belongs to the one shared connection.
        async with self._write_lock:
            await self._pragma("BEGIN")
            try:
                yield _Reader(store=self)
            finally:
                await self._pragma("ROLLBACK")

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[_Writer]:
        async with self._transaction() as db:
            writer = _Writer(db=db)
            yield writer
        if writer.cleared:
            # The rows it replaced leave no bytes behind, like any other delete.
            await self._scrub()
