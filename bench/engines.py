"""The bench's lookup lines: `Store.get_key` + `KeyVault.open` at 100,000 and 1,000,000
stored keys, on SQLite and on PostgreSQL (see bench/README.md).

Sealing a million keys one by one would take most of the bench's time, so only the members
the lookups probe get keys sealed to them with `KeyVault.seal` (the lookups open those); every
other row holds one of those same ciphertexts (real Fernet tokens of the same size, which no
lookup opens) under its own member, key id and timestamps. The table, its primary key and its
pages are as large as with a million distinct keys; what is never done is opening a row that
was not sealed to its member, which a lookup never does either.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import asyncpg

from bot.domain import Member
from bot.ports import Store
from bot.vault import KeyVault, fingerprint
from storage.columns import member_key
from storage.postgres import PostgresStore
from storage.sqlite import SqliteStore
from storage.sqlite.connection import iso_time

# The stored-key counts each lookup line is measured at, in the order the table is filled.
SIZES = (100_000, 1_000_000)
LOOKUPS = 2_000
FILL_BATCH = 100_000


def stored_member(number: int) -> Member:
    return Member("bench", f"T{number % 100:02d}", f"member{number:07d}")


class KeyTable:
    """Which members the lookups probe at each size, and their sealed keys."""

    def __init__(self, master_key: str, sizes: tuple[int, ...] = SIZES) -> None:
        from tests.fakes.core import make_key

        self.sizes = sizes
        self.master_key = master_key
        vault = KeyVault(master_keys=[master_key])
        # Probes for a size are drawn from the rows present at that size, across all of them.
        self.probes = {size: random.sample(range(size), LOOKUPS) for size in sizes}
        probed = sorted({number for numbers in self.probes.values() for number in numbers})
        self.sealed = {number: vault.seal(stored_member(number), make_key()) for number in probed}
        # What the other rows hold: those same ciphertexts, each under many other members.
        self.filler = list(self.sealed.values())

    def probed_between(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """The probed members among rows [start, stop), with their own sealed keys."""
        return [
            (number, sealed) for number, sealed in self.sealed.items() if start <= number < stop
        ]


# The rows [start, stop) as stored_member() names them, in the engines' own SQL, so a million
# rows take seconds; `sealed` is one of the filler ciphertexts.
_SQLITE_FILL = (
    "WITH RECURSIVE n(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM n WHERE x + 1 < ?)"
    " INSERT INTO member_keys (platform, workspace, user_id, provider, key_id, sealed, masked,"
    " status, set_at, validated_at, last_used_at)"
    " SELECT 'bench', printf('T%02d', x % 100), printf('member%07d', x), 'openai',"
    " printf('%032x', x), (SELECT sealed FROM temp.bench_filler WHERE id = x % ?),"
    " 'sk-...bench', 'valid', ?, ?, NULL FROM n"
)
# On PostgreSQL the probed members' own sealed keys go in with the filler ($5, $6): updated
# afterwards, their new row versions would all sit together on the table's last pages, few
# and recently written, and the lookups would read only those.
_POSTGRES_FILL = (
    "INSERT INTO member_keys (platform, workspace, user_id, provider, key_id, sealed, masked,"
    " status, set_at, validated_at, last_used_at)"
    " SELECT 'bench', 'T' || lpad((x % 100)::text, 2, '0'), 'member' || lpad(x::text, 7, '0'),"
    " 'openai', lpad(to_hex(x), 32, '0'),"
    " COALESCE(probe.sealed, ($3::bytea[])[x % cardinality($3::bytea[]) + 1]),"
    " 'sk-...bench', 'valid', $4, $4, NULL FROM generate_series($1::bigint, $2::bigint - 1) x"
    " LEFT JOIN unnest($5::bigint[], $6::bytea[]) AS probe(number, sealed) ON probe.number = x"
    " ORDER BY x"
)


async def fill_sqlite(store: SqliteStore, table: KeyTable, start: int, stop: int) -> None:
    """Rows [start, stop) through the store's own connection, FILL_BATCH per transaction;
    then the probed members' own sealed keys in place of the filler."""
    now = iso_time(datetime.now(UTC))
    async with store._transaction() as db:
        await db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bench_filler (id INTEGER PRIMARY KEY, sealed BLOB)"
        )
        await db.execute("DELETE FROM temp.bench_filler")
        await db.executemany(
            "INSERT INTO temp.bench_filler (id, sealed) VALUES (?, ?)", enumerate(table.filler)
        )
    for first in range(start, stop, FILL_BATCH):
        last = min(first + FILL_BATCH, stop)
        async with store._transaction() as db:
            await db.execute(_SQLITE_FILL, (first, last, len(table.filler), now, now))
    async with store._transaction() as db:
        await db.executemany(
            "UPDATE member_keys SET sealed = ? WHERE platform = ? AND workspace = ?"
            " AND user_id = ? AND provider = 'openai'",
            [
                (sealed, *member_key(stored_member(number)))
                for number, sealed in table.probed_between(start, stop)
            ],
        )
        await db.execute(
            "INSERT OR IGNORE INTO master_key_fingerprints (fingerprint) VALUES (?)",
            (fingerprint(table.master_key),),
        )
    # The fill's pages moved from the WAL into the file, as the store's own checkpoints do.
    await store._checkpoint()


async def fill_postgres(store: PostgresStore, table: KeyTable, start: int, stop: int) -> None:
    """The same through the store's own pool (the probed members' keys in the same INSERT),
    then VACUUM (ANALYZE) as autovacuum would, and a CHECKPOINT where the user may ask for
    one."""
    now = datetime.now(UTC)
    async with store._pool.acquire() as connection:
        for first in range(start, stop, FILL_BATCH):
            last = min(first + FILL_BATCH, stop)
            probed = table.probed_between(first, last)
            await connection.execute(
                _POSTGRES_FILL,
                first,
                last,
                table.filler,
                now,
                [number for number, _ in probed],
                [sealed for _, sealed in probed],
            )
        await connection.execute(
            "INSERT INTO master_key_fingerprints (fingerprint) VALUES ($1) ON CONFLICT DO NOTHING",
            fingerprint(table.master_key),
        )
        # As a table long in service stands: hint bits and visibility map set, statistics
        # current, and the fill's dirty pages written out, so that the lookups timed next
        # pay neither for the fill nor for the checkpoint it would set off.
        await connection.execute("VACUUM (ANALYZE) member_keys")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CHECKPOINT")


async def time_lookups(store: Store, table: KeyTable, size: int) -> tuple[float, float]:
    """p50 and p99 in ms of `get_key` + `vault.open` for the probed members at `size`, one
    after the other."""
    assert await store.count_keys() == size
    vault = KeyVault(master_keys=[table.master_key])
    took = []
    for number in table.probes[size]:
        who = stored_member(number)
        started = time.perf_counter()
        stored = await store.get_key(who)
        assert stored is not None
        opened = vault.open(who, stored.sealed)
        took.append(time.perf_counter() - started)
        assert opened.startswith("sk-proj-")
    return _p50_p99_ms(took)


def _p50_p99_ms(seconds: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


# stored keys -> {"p50_ms", "p99_ms", "fill_s"}
Lookups = dict[int, dict[str, float]]


async def sqlite_lookups(folder: Path, table: KeyTable) -> Lookups:
    await SqliteStore.migrate(folder / "lookup.sqlite3")
    store = await SqliteStore.open(folder / "lookup.sqlite3")
    return await _grow_and_time(store, table, fill_sqlite)


async def round_trip_floor(database_url: str) -> dict[str, float]:
    """p50 and p99 in ms of `SELECT 1` on one connection, as many times as a lookup line
    asks: what any read from PostgreSQL costs here, under which no lookup can go."""
    connection = await asyncpg.connect(database_url)
    try:
        took = []
        for _ in range(LOOKUPS):
            started = time.perf_counter()
            await connection.fetchval("SELECT 1")
            took.append(time.perf_counter() - started)
    finally:
        await connection.close()
    p50, p99 = _p50_p99_ms(took)
    return {"p50_ms": p50, "p99_ms": p99}


async def postgres_lookups(database_url: str, table: KeyTable) -> Lookups:
    # A new database, migrated as an operator would before starting any process.
    await PostgresStore.migrate(url=database_url)
    store = await PostgresStore.open(url=database_url, pool_size=2)
    return await _grow_and_time(store, table, fill_postgres)


AnyStore = TypeVar("AnyStore", SqliteStore, PostgresStore)


async def _grow_and_time(
    store: AnyStore,
    table: KeyTable,
    fill: Callable[[AnyStore, KeyTable, int, int], Awaitable[None]],
) -> Lookups:
    """Fill the table up to each size in turn and time the lookups there."""
    results: Lookups = {}
    try:
        present = 0
        for size in table.sizes:
            started = time.perf_counter()
            await fill(store, table, present, size)
            filled = time.perf_counter() - started
            present = size
            p50, p99 = await time_lookups(store, table, size)
            results[size] = {"p50_ms": p50, "p99_ms": p99, "fill_s": filled}
    finally:
        await store.close()
    return results
