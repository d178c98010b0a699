"""What only SQLite has: its pragmas, its files on disk and its one writer. The Store
contract both engines share is tests/test_store_contract.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.domain import Member
from bot.ports import Lease, RateWindow, StoreError
from storage.sqlite import SqliteStore, migrations

ALICE = Member("slack", "T1", "U1")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LATEST = migrations()[-1].version
# Every version in order; numbers may skip (helpers' branches number theirs apart).
VERSIONS = [m.version for m in migrations()]
MARKER = b"SEALED-MARKER-" + b"x" * 200


async def _pragma(db: SqliteStore, name: str) -> object:
    async with db._db.execute(f"PRAGMA {name}") as cur:
        row = await cur.fetchone()
    assert row is not None
    return row[0]


async def test_pragmas_and_schema_version(tmp_path: Path) -> None:
    change = await SqliteStore.migrate(tmp_path / "s.sqlite3")
    assert (change.before, change.after) == (0, LATEST)
    assert [m.version for m in change.applied] == VERSIONS
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    try:
        assert await _pragma(store, "journal_mode") == "wal"
        assert await _pragma(store, "synchronous") == 2  # FULL
        assert await _pragma(store, "secure_delete") == 1
        assert await _pragma(store, "busy_timeout") == 5000
        assert await store.schema_version() == LATEST
    finally:
        await store.close()
    # Migrating again finds nothing to do.
    again = await SqliteStore.migrate(tmp_path / "s.sqlite3")
    assert (again.before, again.after, again.applied) == (LATEST, LATEST, ())


async def test_deleted_key_leaves_no_bytes_in_the_file_or_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    await SqliteStore.migrate(path)
    store = await SqliteStore.open(path)
    try:
        await store.save_key(ALICE, sealed=MARKER, masked="sk-...", fingerprint="f", now=NOW)
        assert await store.get_key(ALICE) is not None
        assert await store.delete_key(ALICE)
        assert not await store.delete_key(ALICE)
        # The checkpoint runs off the request path, soon after the delete.
        await asyncio.wait_for(store.scrubbed(), 10)
        for file in tmp_path.iterdir():
            assert MARKER not in file.read_bytes(), file.name
    finally:
        await store.close()


async def test_database_file_is_private(tmp_path: Path) -> None:
    await SqliteStore.migrate(tmp_path / "s.sqlite3")
    assert (tmp_path / "s.sqlite3").stat().st_mode & 0o077 == 0
    async with aiosqlite.connect(tmp_path / "s.sqlite3") as db:
        async with db.execute("SELECT version FROM schema_version") as cur:
            assert [row[0] for row in await cur.fetchall()] == VERSIONS


async def test_deletes_and_their_checkpoint_run_among_concurrent_reads(tmp_path: Path) -> None:
    await SqliteStore.migrate(tmp_path / "s.sqlite3")
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    try:
        members = [Member("slack", "T1", f"U{i}") for i in range(60)]
        for who in members:
            await store.save_key(who, sealed=MARKER, masked="m", fingerprint="f", now=NOW)
        deleted: list[bool] = []

        async def reader() -> None:
            while len(deleted) < len(members):
                await store.get_key(members[-1])

        async def deleter() -> None:
            for who in members:
                deleted.append(await store.delete_key(who))

        # Readers keep statements going while every delete commits and checkpoints the WAL.
        await asyncio.gather(*(reader() for _ in range(8)), deleter())
        assert deleted == [True] * len(members)
    finally:
        await store.close()


async def test_a_shared_state_write_that_fails_changes_nothing_and_keeps_keys_durable(
    tmp_path: Path,
) -> None:
    """Leases, windows and tokens are written in one hop to the connection's thread, at
    synchronous=NORMAL: a failure inside rolls back, says StoreError, and leaves the
    connection as a key write needs it (no transaction open, synchronous=FULL)."""
    path = tmp_path / "s.sqlite3"
    await SqliteStore.migrate(path)
    store = await SqliteStore.open(path)
    try:
        window = RateWindow("questions:x", limit=5, span=timedelta(minutes=1))
        lease = Lease(bucket="turns:x", holder="h1", limit=1)
        # A trigger makes the lease's INSERT fail after the window was counted in the same
        # transaction: the count must be rolled back with it.
        await store._db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON turn_leases"
            " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        until = NOW + timedelta(seconds=30)
        with pytest.raises(StoreError, match="disk says no"):
            await store.take_lease(lease, windows=[window], now=NOW, until=until)
        assert await _pragma(store, "synchronous") == 2  # FULL
        assert not store._db.in_transaction
        rows = await store._db.execute_fetchall("SELECT COUNT(*) FROM rate_attempts")
        assert next(iter(rows))[0] == 0
        await store._db.execute("DROP TRIGGER refuse")
        assert await store.take_lease(lease, windows=[window], now=NOW, until=until) is None
        await store.save_key(ALICE, sealed=MARKER, masked="sk-...", fingerprint="f", now=NOW)
        assert await store.get_key(ALICE) is not None
    finally:
        await store.close()
