"""Whole tables in and out, for `byok-bot copy-db`: rows as storage/tables.py spells them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from bot.ports import StoreError
from storage.postgres.connection import _RUN_FAILURES, PostgresConnection, utc
from storage.tables import TABLES, ColumnKind, Row, Table

if TYPE_CHECKING:
    from storage.postgres.connection import Connection

BATCH = 1000


def _from_column(kind: ColumnKind, value: object) -> object:
    if value is None:
        return None
    match kind:
        case "object":
            # asyncpg hands jsonb over as its text.
            return json.loads(str(value))
        case "list":
            return list(value) if isinstance(value, list | tuple) else value
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
            return utc(value)
        case "flag":
            return bool(value)
        case "object":
            return json.dumps(value)
        case _:
            return value


class _Reader:
    def __init__(self, *, db: Connection) -> None:
        self._db = db

    async def count(self, table: Table) -> int:
        try:
            return int(await self._db.fetchval(f"SELECT count(*) FROM {table.name}"))  # noqa: S608
        except _RUN_FAILURES as error:
            raise StoreError(f"database read failed: {error}") from error

    async def rows(self, table: Table) -> AsyncIterator[Sequence[Row]]:
        query = f"SELECT {', '.join(table.column_names)} FROM {table.name}"  # noqa: S608
        batch: list[Row] = []
        try:
            # A server-side cursor: memory stays flat for a large usage table.
            async for record in self._db.cursor(query, prefetch=BATCH):
                batch.append(
                    tuple(
                        _from_column(kind, value)
                        for (_, kind), value in zip(table.columns, record.values(), strict=True)
                    )
                )
                if len(batch) == BATCH:
                    yield batch
                    batch = []
        except _RUN_FAILURES as error:
            raise StoreError(f"database read failed: {error}") from error
        if batch:
            yield batch


class _Writer:
    def __init__(self, *, db: Connection) -> None:
        self._db = db

    async def count(self, table: Table) -> int:
        return int(await self._db.fetchval(f"SELECT count(*) FROM {table.name}"))  # noqa: S608

    async def clear(self, table: Table) -> None:
        await self._db.execute(f"DELETE FROM {table.name}")  # noqa: S608

    async def insert(self, table: Table, rows: Sequence[Row]) -> None:
        # COPY writes the copied ids into identity columns as they are (what INSERT does
        # only with OVERRIDING SYSTEM VALUE).
        await self._db.copy_records_to_table(
            table.name,
            columns=list(table.column_names),
            records=[
                tuple(
                    _to_column(kind, value)
                    for (_, kind), value in zip(table.columns, row, strict=True)
                )
                for row in rows
            ],
        )

    async def move_counters_past_copied_ids(self) -> None:
        for table in TABLES:
            if table.identity is None:
                continue
            # setval is not undone by a rollback: it only ever moves a counter forward, so
            # a copy that fails after it cannot hand out an id a restored row still holds.
            await self._db.execute(
                "SELECT setval(seq, GREATEST(COALESCE(pg_sequence_last_value(seq), 0),"  # noqa: S608 - names from TABLES
                f" (SELECT COALESCE(MAX({table.identity}), 0) FROM {table.name}), 1))"
                " FROM (SELECT pg_get_serial_sequence($1, $2)::regclass AS seq) AS counter",
                table.name,
                table.identity,
            )


class RowCopy(PostgresConnection):
    @asynccontextmanager
    async def reading(self) -> AsyncIterator[_Reader]:
        # One repeatable-read transaction is one snapshot of every table, whatever the
        # bot's processes write meanwhile.
        try:
            async with (
                self._pool.acquire() as db,
                db.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield _Reader(db=db)
        except _RUN_FAILURES as error:
            raise StoreError(f"database read failed: {error}") from error

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[_Writer]:
        async with self._transaction() as db:
            names = ", ".join(table.name for table in TABLES)
            # No process writes to these tables until the copy commits or rolls back, so the
            # target's emptiness checked now still holds when it commits. Reads go on.
            await db.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
            writer = _Writer(db=db)
            yield writer
            await writer.move_counters_past_copied_ids()
