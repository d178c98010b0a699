"""The SQLite engine's connection: one writer, WAL, numbered migrations, secure deletes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Self

import aiosqlite

from bot.domain import AuditRecord

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
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


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("storage") / "migrations" / "sqlite"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            # Comment lines go first: a `;` inside one would split a statement.
            lines = entry.read_text("utf-8").splitlines()
            script = "\n".join(ln for ln in lines if not ln.lstrip().startswith("--"))
            found.append((int(entry.name.split("_", 1)[0]), script))
    return sorted(found)


class SqliteConnection:
    """The one connection every table module shares, and its transaction discipline."""

    def __init__(self, *, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        # One writer: every write transaction holds this lock.
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self._path)!r})"

    @classmethod
    async def open(cls, path: Path) -> Self:
        await asyncio.to_thread(_make_private, path)
        connection = await aiosqlite.connect(path, isolation_level=None)
        try:
            await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await connection.execute("PRAGMA journal_mode = WAL")
            # Key writes must survive a power cut, and deleted keys must leave no bytes.
            await connection.execute("PRAGMA synchronous = FULL")
            await connection.execute("PRAGMA secure_delete = ON")
            await connection.execute("PRAGMA foreign_keys = ON")
            store = cls(connection=connection, path=path)
            await store._migrate()
        except BaseException:
            await connection.close()
            raise
        # Opening in WAL mode created the WAL and shared-memory files just now.
        await asyncio.to_thread(_private_files, path)
        return store

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                await self._db.execute("COMMIT")
            except BaseException:
                # Also after a cancel or a failed COMMIT, the next writer must not find a
                # transaction open. A cancelled BEGIN may still be queued in aiosqlite's
                # thread, which runs statements in order: a ROLLBACK queued now runs after it.
                with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open
                    await asyncio.shield(self._db.execute("ROLLBACK"))
                raise

    # Reads fetch everything in one call, so no statement stays open across an await: an open
    # one would make the WAL checkpoint after a delete fail with "database table is locked".
    async def _all(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        return list(await self._db.execute_fetchall(sql, parameters))

    async def _one(self, sql: str, parameters: Sequence[object] = ()) -> sqlite3.Row | None:
        rows = await self._all(sql, parameters)
        return rows[0] if rows else None

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        row = await self._one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        current = int(row[0]) if row else 0
        for version, script in migrations():
            if version <= current:
                continue
            async with self._transaction() as db:
                for statement in script.split(";"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, iso_time(datetime.now(UTC))),
                )

    async def schema_version(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(row[0]) if row else 0

    async def _scrub(self) -> None:
        """Push deleted pages out of the WAL so no freed bytes linger in it."""
        row = await self._one("PRAGMA wal_checkpoint(TRUNCATE)")
        if row is not None and row[0]:
            # Another process (e.g. `byok-bot audit`) was reading; the next delete retries.
            log.warning("WAL checkpoint was busy; deleted pages stay in the WAL until the next one")

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
