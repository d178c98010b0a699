"""The SQLite engine's connection: one writer, WAL, numbered migrations, secure deletes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self, TypeVar

import aiosqlite

from bot.domain import AuditRecord
from bot.ports import StoreError
from storage.schema import (
    DEFAULT_SETTING,
    Migration,
    SchemaChange,
    ahead,
    check_version,
    read_migrations,
)

log = logging.getLogger(__name__)
Result = TypeVar("Result")

BUSY_TIMEOUT_MS = 5000
# A checkpoint waits this long for another process's readers, then tries again later: it
# holds the one writer's lock meanwhile, and members' writes must not queue behind it.
CHECKPOINT_BUSY_TIMEOUT_MS = 100
CHECKPOINT_DELAY = 0.2
CHECKPOINT_RETRY_CAP = 30.0
# The files hold only ciphertext and masked hints, but nobody else needs to read them.
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
# The database and what SQLite keeps beside it (WAL mode; a rollback journal before that).
DATABASE_FILES = ("", "-wal", "-shm", "-journal")


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _private_files(path: Path) -> None:
    for suffix in DATABASE_FILES:
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            companion.chmod(PRIVATE_FILE)


def _make_private(path: Path) -> None:
    """Only the bot's user may look inside: the folder, the database and its companion files.

    Done on every start, not only when they are created: a folder made by hand, a restore
    from a backup or an older version may have left them readable by others."""
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    path.parent.chmod(PRIVATE_FOLDER)
    # Created private before SQLite writes a byte, instead of with the umask's mode; SQLite
    # gives the WAL and shared-memory files the mode of the database file.
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE))
    _private_files(path)


def _fetch_all(
    connection: sqlite3.Connection, sql: str, parameters: Sequence[object] | Mapping[str, object]
) -> list[sqlite3.Row]:
    cursor = connection.execute(sql, parameters)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _open_point_reader(path: Path) -> sqlite3.Connection:
    # Made in a worker thread, used only from the event loop's: hence check_same_thread off.
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        reader.execute("PRAGMA busy_timeout = 0")
        reader.execute("PRAGMA query_only = ON")
    except BaseException:
        reader.close()
        raise
    return reader


def migrations() -> list[Migration]:
    return read_migrations("sqlite")


def _latest() -> int:
    known = migrations()
    return known[-1].version if known else 0


def _statements(script: str) -> list[str]:
    # Comment lines go first: a `;` inside one would split a statement.
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [statement for statement in "\n".join(lines).split(";") if statement.strip()]


class SqliteConnection:
    """The one connection every table module shares, and its transaction discipline."""

    def __init__(self, *, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        # See _point_read: a second connection, used only from the event loop's thread, made
        # by open() for a store that serves turns.
        self._point_reader: sqlite3.Connection | None = None
        # One writer: every write transaction holds this lock.
        self._write_lock = asyncio.Lock()
        # Deleted rows wait in the WAL until a checkpoint; set when one is owed.
        self._scrub_owed = asyncio.Event()
        self._scrubbed = asyncio.Event()
        self._scrubbed.set()
        self._checkpoints: asyncio.Task[None] | None = None
        # When this process next sweeps expired shared state (storage/sqlite/shared.py).
        self._next_state_sweep = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self._path)!r})"

    @classmethod
    async def open(
        cls, path: Path, *, setting: str = DEFAULT_SETTING, read_only: bool = False
    ) -> Self:
        """Open a database whose schema is the one this code knows; one behind or ahead of it
        raises SchemaMismatch, naming the command to run.

        `read_only` is for a database byok-bot only reads (copy-db's source): SQLite then
        writes nothing to it, and its file, folder and journal mode are left as they are
        (it may be a backup in a folder shared with others)."""
        store = await (cls._connect_read_only(path) if read_only else cls._connect(path))
        try:
            check_version(await store.schema_version(), _latest(), setting=setting)
            if not read_only:
                # Only a serving store reads turns; migrating and copy-db's source do not.
                store._point_reader = await asyncio.to_thread(_open_point_reader, path)
        except BaseException:
            await store._close_connections()
            raise
        if not read_only:
            store._checkpoints = asyncio.create_task(
                store._checkpoint_when_owed(), name="sqlite-checkpoints"
            )
        return store

    @classmethod
    async def migrate(cls, path: Path, *, setting: str = DEFAULT_SETTING) -> SchemaChange:
        """Apply the migrations the database lacks (creating it when new) and say what was
        done; a schema newer than this code raises SchemaMismatch and is left alone."""
        store = await cls._connect(path)
        try:
            return await store._migrate(setting=setting)
        finally:
            await store._close_connections()

    @classmethod
    async def _connect(cls, path: Path) -> Self:
        await asyncio.to_thread(_make_private, path)
        connection = await aiosqlite.connect(path, isolation_level=None)
        try:
            await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await connection.execute("PRAGMA journal_mode = WAL")
            # Key writes must survive a power cut, and deleted keys must leave no bytes.
            await connection.execute("PRAGMA synchronous = FULL")
            await connection.execute("PRAGMA secure_delete = ON")
            await connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            await connection.close()
            raise
        # Opening in WAL mode created the WAL and shared-memory files just now.
        await asyncio.to_thread(_private_files, path)
        return cls(connection=connection, path=path)

    @classmethod
    async def _connect_read_only(cls, path: Path) -> Self:
        # A URI built from the absolute path, so no character of the name is read as an
        # option; mode=ro makes SQLite refuse every write, whatever the code asks.
        absolute = await asyncio.to_thread(path.resolve)
        uri = f"{absolute.as_uri()}?mode=ro"
        connection = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        try:
            await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except BaseException:
            await connection.close()
            raise
        return cls(connection=connection, path=path)

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        if not self._scrubbed.is_set():
            # A last try, so a clean stop leaves no deleted key's pages behind.
            try:
                await self._checkpoint()
            except StoreError:
                log.warning("the last WAL checkpoint failed; SQLite runs it at the next start")
        await self._close_connections()

    async def _close_connections(self) -> None:
        reader, self._point_reader = self._point_reader, None
        try:
            if reader is not None:
                reader.close()
        finally:
            await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; the engine's errors come out as StoreError, after the
        rollback, so a failed write is known to have changed nothing."""
        async with self._write_lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                await self._db.execute("COMMIT")
            except BaseException as error:
                # Also after a cancel or a failed COMMIT, the next writer must not find a
                # transaction open. A cancelled BEGIN may still be queued in aiosqlite's
                # thread, which runs statements in order: a ROLLBACK queued now runs after it.
                with contextlib.suppress(sqlite3.Error, OSError):  # no transaction was open
                    await asyncio.shield(self._db.execute("ROLLBACK"))
                if isinstance(error, sqlite3.Error | OSError):
                    raise StoreError(f"database write failed: {error}") from error
                raise

    async def _in_one_hop(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        """`work` as one ephemeral write transaction, run whole in aiosqlite's thread: one
        hand-over there and back instead of one per statement. On the turn's path (leases,
        attempt windows, answer-once tokens) those hand-overs are most of what the database
        costs the bot's CPU.

        Ephemeral: it commits without waiting for the disk (synchronous=NORMAL). A power cut
        may lose the last few such commits, never corrupt the file, and they matter only to
        a process that died with the machine anyway; keys and usage keep FULL (and the next
        FULL commit syncs the WAL, the NORMAL frames before it included).

        aiosqlite has no public call for "run this function in the connection's thread";
        `_execute` is the one its own methods use (the version is pinned in the lock files,
        and every shared-state test runs through here)."""

        def transaction() -> Result:
            connection = self._db._conn
            connection.execute("PRAGMA synchronous = NORMAL")
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    result = work(connection)
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
                return result
            finally:
                # No key write ever runs with NORMAL (see _transaction).
                connection.execute("PRAGMA synchronous = FULL")

        async with self._write_lock:
            try:
                # Shielded: once handed over, the transaction runs to its end in the thread
                # whatever happens here, so the lock is held until it has.
                hop: asyncio.Future[Result] = asyncio.ensure_future(
                    self._db._execute(transaction)  # type: ignore[no-untyped-call]
                )
                try:
                    return await asyncio.shield(hop)
                except asyncio.CancelledError:
                    with contextlib.suppress(BaseException):
                        await hop
                    raise
            except (sqlite3.Error, OSError) as error:
                raise StoreError(f"database write failed: {error}") from error

    # Reads fetch everything in one call, so no statement stays open across an await: an open
    # one would make a WAL checkpoint fail with "database table is locked".
    async def _all(
        self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()
    ) -> list[sqlite3.Row]:
        db = self._db
        try:
            # In one function in aiosqlite's thread, so the statement is closed even when
            # reading a row fails half-way: left open, it would keep every later checkpoint
            # from truncating the WAL, and deleted keys' pages with it.
            rows: list[sqlite3.Row] = await db._execute(  # type: ignore[no-untyped-call]
                lambda: _fetch_all(db._conn, sql, parameters)
            )
            return rows
        except (sqlite3.Error, OSError) as error:
            raise StoreError(f"database read failed: {error}") from error

    async def _one(
        self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()
    ) -> sqlite3.Row | None:
        rows = await self._all(sql, parameters)
        return rows[0] if rows else None

    async def _point_read(
        self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()
    ) -> list[sqlite3.Row]:
        """A read of a few rows found by their key (a turn's context, a key), run right here
        on the event loop's thread with a connection of its own.

        Such a read takes SQLite some microseconds on cached pages, less than the hand-over
        to aiosqlite's thread and back costs the loop itself (about 0.1 ms); the hand-over
        was most of a key lookup's time. A WAL reader does not wait for a writer, and this one
        does not wait for a lock either (busy_timeout 0): whenever SQLite cannot answer at
        once (another process recovering the WAL, say), or fails in any way, the read is made
        again in aiosqlite's thread, which waits as long as every other read does and reports a
        failure as every other read does. Reads of many rows always go there."""
        if self._point_reader is not None:
            # Every Store call lets the loop run other tasks, as a hand-over did: a task
            # reading keys in a loop must not starve the others.
            await asyncio.sleep(0)
        # Read again after the yield: the store may have been closed meanwhile.
        reader = self._point_reader
        if reader is not None:
            try:
                # The statement is closed at once, and with it the read transaction:
                # nothing is left open to hold back a checkpoint.
                return _fetch_all(reader, sql, parameters)
            except (sqlite3.Error, OSError):
                pass
        return await self._all(sql, parameters)

    async def _migrate(self, *, setting: str) -> SchemaChange:
        """Read the schema's version and apply what is missing in one write transaction:
        processes starting together on a new file take turns instead of each seeing an
        empty schema and creating the same tables."""
        known = migrations()
        latest = _latest()
        async with self._transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            rows = await db.execute_fetchall("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            current = int(next(iter(rows))[0])
            if current > latest:
                raise ahead(current, latest, setting=setting)
            pending = tuple(migration for migration in known if migration.version > current)
            for migration in pending:
                for statement in _statements(migration.script):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (migration.version, iso_time(datetime.now(UTC))),
                )
        return SchemaChange(before=current, after=max(current, latest), applied=pending)

    async def schema_version(self) -> int:
        """0 for a database no migration has touched yet."""
        found = await self._one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        )
        if found is None:
            return 0
        row = await self._one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(row[0]) if row else 0

    async def _scrub(self) -> None:
        """Ask for deleted pages to be pushed out of the WAL, so no freed bytes linger there.

        The checkpoint runs in the background, off the member's request: it has to wait for
        other processes' readers, and a delete must not wait with it."""
        self._scrubbed.clear()
        self._scrub_owed.set()

    async def scrubbed(self) -> None:
        """Until every delete so far has been checkpointed out of the WAL."""
        await self._scrubbed.wait()

    async def _checkpoint_when_owed(self) -> None:
        retry_in = CHECKPOINT_DELAY
        while True:
            await self._scrub_owed.wait()
            # Deletes come in bursts (/forget, an uninstall): one checkpoint for the burst.
            await asyncio.sleep(retry_in)
            self._scrub_owed.clear()
            try:
                done = await self._checkpoint()
            except StoreError:
                log.warning("WAL checkpoint failed; trying again", exc_info=True)
                done = False
            if done:
                retry_in = CHECKPOINT_DELAY
                if not self._scrub_owed.is_set():
                    self._scrubbed.set()
            else:
                # Another process (e.g. `byok-bot audit`) is reading; try again later.
                self._scrub_owed.set()
                retry_in = min(retry_in * 2 + CHECKPOINT_DELAY, CHECKPOINT_RETRY_CAP)

    async def _checkpoint(self) -> bool:
        async with self._write_lock:
            await self._pragma(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_TIMEOUT_MS}")
            try:
                row = await self._one("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                await self._pragma(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return row is not None and not row[0]

    async def _pragma(self, statement: str) -> None:
        try:
            await self._db.execute(statement)
        except (sqlite3.Error, OSError) as error:
            raise StoreError(f"database setting failed: {error}") from error

    @staticmethod
    async def _insert_audit(db: aiosqlite.Connection, record: AuditRecord) -> None:
        await db.execute(
            "INSERT INTO audit_events (at, platform, workspace, user_id, event, outcome, place)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                iso_time(record.at),
                record.platform,
                record.workspace,
                record.user,
                record.event,
                record.outcome,
                record.place,
            ),
        )
