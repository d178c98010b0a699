"""What only SQLite has: its pragmas, its files on disk and its one writer. The Store
contract both engines share is tests/test_store_contract.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.domain import Member
from bot.ports import Lease, RateWindow, StoreError
from storage import SchemaMismatch
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


# A turn's reads on the event loop's own thread (SqliteConnection._point_read)


async def _opened(path: Path) -> SqliteStore:
    await SqliteStore.migrate(path)
    return await SqliteStore.open(path)


async def test_a_turns_reads_make_no_hand_over_to_the_thread_and_never_wait_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _opened(tmp_path / "s.sqlite3")
    try:
        await store.save_key(ALICE, sealed=MARKER, masked="sk-...", fingerprint="f", now=NOW)
        hand_overs = 0
        execute = store._db._execute

        def counted(*args: object, **kwargs: object) -> object:
            nonlocal hand_overs
            hand_overs += 1
            return execute(*args, **kwargs)  # type: ignore[no-untyped-call]

        monkeypatch.setattr(store._db, "_execute", counted)
        stored = await store.get_key(ALICE)
        context = await store.turn_context(ALICE, server="T1")
        assert stored is not None and stored.sealed == MARKER
        assert [key.sealed for key in context.keys] == [MARKER]
        assert hand_overs == 0
        reader = store._point_reader
        assert reader is not None
        # It never sleeps on the loop for a lock, and it cannot write.
        assert reader.execute("PRAGMA busy_timeout").fetchone() == (0,)
        assert reader.execute("PRAGMA query_only").fetchone() == (1,)
    finally:
        await store.close()
    assert store._point_reader is None


async def test_a_read_the_loop_cannot_make_at_once_is_made_in_the_thread(tmp_path: Path) -> None:
    store = await _opened(tmp_path / "s.sqlite3")
    try:
        await store.save_key(ALICE, sealed=MARKER, masked="sk-...", fingerprint="f", now=NOW)
        reader = store._point_reader
        assert reader is not None
        refusals = 0

        def refuse() -> int:
            # SQLite asks this while it works; non-zero stops the statement, as a read that
            # cannot go on would stop.
            nonlocal refusals
            refusals += 1
            return 1

        reader.set_progress_handler(refuse, 1)
        stored = await store.get_key(ALICE)
        context = await store.turn_context(ALICE, server="T1")
        assert refusals >= 2
        assert stored is not None and stored.sealed == MARKER
        assert [key.sealed for key in context.keys] == [MARKER]
    finally:
        await store.close()


async def test_the_loops_reads_see_every_write_the_moment_it_is_committed(tmp_path: Path) -> None:
    """Another connection (another process, or this one's own writer) commits; the very next
    read on the loop sees it: a point read keeps no snapshot between reads."""
    path = tmp_path / "s.sqlite3"
    store = await _opened(path)
    other = await SqliteStore.open(path)
    try:
        for round_ in range(20):
            sealed = MARKER + bytes([round_])
            writer = other if round_ % 2 else store
            await writer.save_key(ALICE, sealed=sealed, masked="sk-...", fingerprint="f", now=NOW)
            stored = await store.get_key(ALICE)
            assert stored is not None and stored.sealed == sealed
            assert [key.sealed for key in (await store.turn_context(ALICE, server="T1")).keys] == [
                sealed
            ]
            assert await writer.delete_key(ALICE)
            assert await store.get_key(ALICE) is None
            assert (await store.turn_context(ALICE, server="T1")).keys == ()
    finally:
        await other.close()
        await store.close()


def _open_files_on(path: Path) -> list[str]:
    """This process's open file descriptors on the database and its companion files."""
    names = {f"{path}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")}
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) in names:
                found.append(os.readlink(fd))
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc (Linux)")
async def test_migrating_or_failing_to_open_leaves_no_connection_open(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    await SqliteStore.migrate(path)
    assert _open_files_on(path) == []
    # A schema newer than this code: open refuses, and keeps nothing open, however often.
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("INSERT INTO schema_version (version, applied_at) VALUES (999, 'now')")
    raw.close()
    refusals = []
    for _ in range(3):
        with pytest.raises(SchemaMismatch) as refused:
            await SqliteStore.open(path)
        refusals.append(refused.value)
    assert _open_files_on(path) == []


async def test_a_read_that_fails_half_way_leaves_deletes_scrubbed(tmp_path: Path) -> None:
    """A row SQLite returns but Python cannot decode fails its read; the statement must not
    stay open, or no checkpoint would truncate the WAL and a deleted key's bytes would stay."""
    path = tmp_path / "s.sqlite3"
    store = await _opened(path)
    try:
        await store.save_key(ALICE, sealed=MARKER, masked="sk-...", fingerprint="f", now=NOW)
        raw = sqlite3.connect(path)
        with raw:
            raw.execute("UPDATE member_keys SET masked = CAST(x'ff' AS TEXT)")
        raw.close()
        # Read in aiosqlite's thread (a listing, not a point read), and in the loop's.
        with pytest.raises(StoreError):
            await store.member_keys(ALICE)
        with pytest.raises(StoreError):
            await store.get_key(ALICE)
        assert await store.delete_key(ALICE)
        await asyncio.wait_for(store.scrubbed(), 10)
        for suffix in ("", "-wal"):
            companion = Path(f"{path}{suffix}")
            if companion.exists():
                assert MARKER not in companion.read_bytes(), suffix
    finally:
        await store.close()
