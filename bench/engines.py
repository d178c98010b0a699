"""The bench's engine lines: key lookup at 100,000 stored keys on SQLite and PostgreSQL, and
turns per second with one worker process vs two on PostgreSQL (see bench/README.md)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from app.services import open_services
from bench.worker import GO, READY, bench_member
from bot.domain import Member
from bot.ports import Store
from bot.vault import KeyVault, fingerprint
from storage.postgres import PostgresStore
from storage.sqlite import SqliteStore
from storage.sqlite.connection import iso_time
from tests.fakes import openai_server
from tests.fakes.core import make_key, make_settings
from tests.fakes.openai_server import FakeOpenAI

STORED_KEYS = 100_000
LOOKUPS = 2_000
FILL_BATCH = 10_000
WORKER_MEMBERS = 100
WORKER_TURNS = 20
# The repository's root, where `python -m bench.worker` finds its packages.
ROOT = Path(__file__).resolve().parent.parent
_COLUMNS = (
    "platform",
    "workspace",
    "user_id",
    "key_id",
    "sealed",
    "masked",
    "status",
    "set_at",
    "validated_at",
    "last_used_at",
)
# A sealed row: the member and its ciphertext.
Row = tuple[Member, bytes]


def sealed_rows(master_key: str, count: int = STORED_KEYS) -> list[Row]:
    """`count` members, each with a made-up key sealed to them once (the slow part of a fill)."""
    vault = KeyVault(master_keys=[master_key])
    people = (Member("bench", f"T{n % 100:02d}", f"member{n:06d}") for n in range(count))
    return [(who, vault.seal(who, make_key())) for who in people]


def _values(rows: Sequence[Row], now: object) -> list[tuple[object, ...]]:
    return [
        (who.platform, who.workspace, who.user, f"{n:032x}", sealed, "sk-...bench", "valid", now)
        for n, (who, sealed) in enumerate(rows)
    ]


async def fill_sqlite(store: SqliteStore, rows: Sequence[Row], master_key: str) -> None:
    """Insert every row through the store's own connection, FILL_BATCH per transaction."""
    now = iso_time(datetime.now(UTC))
    sql = (
        f"INSERT INTO member_keys ({', '.join(_COLUMNS)})"  # noqa: S608 - fixed names
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
    )
    values = [(*row, now) for row in _values(rows, now)]
    for start in range(0, len(values), FILL_BATCH):
        async with store._transaction() as db:
            await db.executemany(sql, values[start : start + FILL_BATCH])
    async with store._transaction() as db:
        await db.execute(
            "INSERT OR IGNORE INTO master_key_fingerprints (fingerprint) VALUES (?)",
            (fingerprint(master_key),),
        )


async def fill_postgres(store: PostgresStore, rows: Sequence[Row], master_key: str) -> None:
    """COPY every row through the store's own pool, FILL_BATCH per COPY."""
    now = datetime.now(UTC)
    values = [(*row, now, None) for row in _values(rows, now)]
    async with store._pool.acquire() as connection:
        for start in range(0, len(values), FILL_BATCH):
            await connection.copy_records_to_table(
                "member_keys", records=values[start : start + FILL_BATCH], columns=_COLUMNS
            )
        await connection.execute(
            "INSERT INTO master_key_fingerprints (fingerprint) VALUES ($1) ON CONFLICT DO NOTHING",
            fingerprint(master_key),
        )
        await connection.execute("ANALYZE member_keys")


async def time_lookups(
    store: Store, rows: Sequence[Row], master_key: str, lookups: int = LOOKUPS
) -> tuple[float, float]:
    """p50 and p99 in ms of `get_key` + `vault.open` for `lookups` random stored members."""
    assert await store.count_keys() == len(rows)
    vault = KeyVault(master_keys=[master_key])
    chosen = random.sample(range(len(rows)), lookups)
    took = []
    for index in chosen:
        who = rows[index][0]
        started = time.perf_counter()
        stored = await store.get_key(who)
        assert stored is not None
        opened = vault.open(who, stored.sealed)
        took.append(time.perf_counter() - started)
        assert opened.startswith("sk-proj-")
    cuts = statistics.quantiles(took, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def bench_sqlite_lookup(folder: Path, rows: Sequence[Row], master_key: str) -> str:
    await SqliteStore.migrate(folder / "lookup.sqlite3")
    store = await SqliteStore.open(folder / "lookup.sqlite3")
    try:
        started = time.perf_counter()
        await fill_sqlite(store, rows, master_key)
        filled = time.perf_counter() - started
        p50, p99 = await time_lookups(store, rows, master_key)
    finally:
        await store.close()
    return _lookup_line("sqlite", p50, p99, filled)


async def bench_postgres_lookup(database_url: str, rows: Sequence[Row], master_key: str) -> str:
    # A new database, migrated as an operator would before starting any process.
    await PostgresStore.migrate(url=database_url)
    store = await PostgresStore.open(url=database_url, pool_size=2)
    try:
        started = time.perf_counter()
        await fill_postgres(store, rows, master_key)
        filled = time.perf_counter() - started
        p50, p99 = await time_lookups(store, rows, master_key)
    finally:
        await store.close()
    return _lookup_line("postgres", p50, p99, filled)


def _lookup_line(engine: str, p50: float, p99: float, filled: float) -> str:
    return (
        f"lookup {engine + ':':9} get_key + unseal p50 {p50:.3f} ms, p99 {p99:.3f} ms "
        f"at {STORED_KEYS:,} stored keys ({LOOKUPS:,} random members; filled in {filled:.1f} s)"
    )


async def seed_worker_members(fake: FakeOpenAI, database_url: str, master_key: str) -> None:
    """Every worker member sets a working key through the commands, as in a real server."""
    services = await open_services(
        make_settings(fake, master_keys=master_key, database_url=database_url)
    )
    try:
        for number in range(WORKER_MEMBERS):
            key = make_key()
            fake.behaviours[key] = openai_server.VALID
            reply = await services.commands.set_key(bench_member(number), key)
            assert reply.ok, reply.text
    finally:
        await services.close()


async def _read_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = (await process.stdout.readline()).decode().strip()
    if not line:
        code = await process.wait()
        raise RuntimeError(f"bench worker ended (exit {code}) before answering")
    return line


async def turns_per_second(
    fake: FakeOpenAI, database_url: str, master_key: str, workers: int
) -> float:
    """WORKER_MEMBERS members split over `workers` processes, all asking at once; turns per
    second from `go` to the last worker's answer (start-up and warm-up not counted)."""
    environment = {**os.environ, "BYOK_MASTER_KEYS": master_key}
    share = WORKER_MEMBERS // workers
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.worker",
            "--database-url",
            database_url,
            "--base-url",
            fake.base_url,
            "--first",
            str(index * share),
            "--members",
            str(share if index < workers - 1 else WORKER_MEMBERS - index * share),
            "--turns",
            str(WORKER_TURNS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=environment,
            cwd=ROOT,
        )
        for index in range(workers)
    ]
    try:
        for process in processes:
            line = await _read_line(process)
            if line != READY:
                raise RuntimeError(f"bench worker said {line!r} instead of {READY!r}")
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"{GO}\n".encode())
            await process.stdin.drain()
        results = [json.loads(await _read_line(process)) for process in processes]
        elapsed = time.perf_counter() - started
        for process in processes:
            await process.wait()
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    failed = sum(int(result["failed"]) for result in results)
    if failed:
        raise RuntimeError(f"{failed} bench turns were not answered")
    fake.requests.clear()
    fake.reported_usage.clear()
    return sum(int(result["turns"]) for result in results) / elapsed
