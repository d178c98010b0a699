"""The SQLite engine: one writer connection, WAL, numbered migrations, secure deletes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.messages import Member
from storage.protocol import (
    FORGOTTEN_EVENT,
    AuditRecord,
    Cap,
    CapPeriod,
    CapUnit,
    KeyStatus,
    ModelUsage,
    StoredKey,
    UsageRecord,
    WorkspaceConfig,
)

BUSY_TIMEOUT_MS = 5000
_MEMBER_TABLES = ("member_keys", "member_prefs", "member_caps", "usage_events", "audit_events")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            # Comment lines go first: a `;` inside one would split a statement.
            lines = entry.read_text("utf-8").splitlines()
            script = "\n".join(ln for ln in lines if not ln.lstrip().startswith("--"))
            found.append((int(entry.name.split("_", 1)[0]), script))
    return sorted(found)


class SqliteStore:
    def __init__(self, *, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        # One writer: every write transaction holds this lock.
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SqliteStore(path={str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
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
        # The file holds only ciphertext, but nobody else needs to read it.
        await asyncio.to_thread(path.chmod, 0o600)
        return store

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

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
        for version, script in _migrations():
            if version <= current:
                continue
            async with self._transaction() as db:
                for statement in script.split(";"):
                    if statement.strip():
                        await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, _iso(datetime.now(UTC))),
                )

    async def schema_version(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(row[0]) if row else 0

    async def _scrub(self) -> None:
        """Push deleted pages out of the WAL so no freed bytes linger in it."""
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def master_key_fingerprints(self) -> set[str]:
        rows = await self._all("SELECT fingerprint FROM master_key_fingerprints")
        return {str(row[0]) for row in rows}

    async def save_key(
        self, member: Member, *, sealed: bytes, masked: str, fingerprint: str, now: datetime
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO member_keys (platform, workspace, user_id, sealed, masked, status,"
                " set_at, validated_at, last_used_at) VALUES (?, ?, ?, ?, ?, 'valid', ?, ?, NULL)"
                " ON CONFLICT (platform, workspace, user_id) DO UPDATE SET"
                " sealed = excluded.sealed, masked = excluded.masked, status = 'valid',"
                " set_at = excluded.set_at, validated_at = excluded.validated_at,"
                " last_used_at = NULL",
                (*_member_key(member), sealed, masked, _iso(now), _iso(now)),
            )
            await db.execute(
                "INSERT OR IGNORE INTO master_key_fingerprints (fingerprint) VALUES (?)",
                (fingerprint,),
            )
        # Replacing a key frees the old ciphertext's pages; scrub them like a delete.
        await self._scrub()

    async def get_key(self, member: Member) -> StoredKey | None:
        row = await self._one(
            "SELECT sealed, masked, status, set_at, validated_at, last_used_at FROM member_keys"
            " WHERE platform = ? AND workspace = ? AND user_id = ?",
            _member_key(member),
        )
        if row is None:
            return None
        status: KeyStatus = "valid" if row[2] == "valid" else "invalid"
        set_at = _parse(row[3])
        assert set_at is not None
        return StoredKey(
            member=member,
            sealed=bytes(row[0]),
            masked=str(row[1]),
            status=status,
            set_at=set_at,
            validated_at=_parse(row[4]),
            last_used_at=_parse(row[5]),
        )

    async def _update_key(self, member: Member, assignment: str, *values: object) -> None:
        async with self._transaction() as db:
            await db.execute(
                f"UPDATE member_keys SET {assignment}"  # noqa: S608 - fixed column names only
                " WHERE platform = ? AND workspace = ? AND user_id = ?",
                (*values, *_member_key(member)),
            )

    async def mark_key_validated(self, member: Member, now: datetime) -> None:
        await self._update_key(member, "status = 'valid', validated_at = ?", _iso(now))

    async def mark_key_invalid(self, member: Member) -> None:
        await self._update_key(member, "status = 'invalid'")

    async def mark_key_used(self, member: Member, now: datetime) -> None:
        await self._update_key(member, "last_used_at = ?", _iso(now))

    async def delete_key(self, member: Member) -> bool:
        async with self._transaction() as db:
            cur = await db.execute(
                "DELETE FROM member_keys WHERE platform = ? AND workspace = ? AND user_id = ?",
                _member_key(member),
            )
            deleted = cur.rowcount > 0
        await self._scrub()
        return deleted

    async def get_model(self, member: Member) -> str | None:
        row = await self._one(
            "SELECT model FROM member_prefs WHERE platform = ? AND workspace = ? AND user_id = ?",
            _member_key(member),
        )
        return str(row[0]) if row and row[0] else None

    async def set_model(self, member: Member, model: str | None) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO member_prefs (platform, workspace, user_id, model) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (platform, workspace, user_id) DO UPDATE SET model = excluded.model",
                (*_member_key(member), model),
            )

    async def forget_member(self, member: Member, *, now: datetime) -> None:
        async with self._transaction() as db:
            for table in _MEMBER_TABLES:
                await db.execute(
                    f"DELETE FROM {table}"  # noqa: S608 - table names are constants
                    " WHERE platform = ? AND workspace = ? AND user_id = ?",
                    _member_key(member),
                )
            await self._insert_audit(
                db,
                AuditRecord(
                    at=now,
                    platform=member.platform,
                    workspace=member.workspace,
                    user=None,
                    event=FORGOTTEN_EVENT,
                    outcome="ok",
                ),
            )
        await self._scrub()

    async def record_usage(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        async with self._transaction() as db:
            await db.executemany(
                "INSERT INTO usage_events (platform, workspace, user_id, server, model,"
                " prompt_tokens, completion_tokens, outcome, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *_member_key(r.member),
                        r.server,
                        r.model,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.outcome,
                        _iso(r.at),
                    )
                    for r in records
                ],
            )

    async def usage_by_model(
        self, member: Member, *, since: datetime, server: str | None = None
    ) -> list[ModelUsage]:
        query = (
            "SELECT model, SUM(prompt_tokens), SUM(completion_tokens), COUNT(*)"
            " FROM usage_events WHERE platform = ? AND workspace = ? AND user_id = ? AND at >= ?"
        )
        values: list[object] = [*_member_key(member), _iso(since)]
        if server is not None:
            query += " AND server = ?"
            values.append(server)
        rows = await self._all(query + " GROUP BY model ORDER BY model", values)
        return [ModelUsage(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def get_caps(self, member: Member) -> dict[CapPeriod, Cap]:
        rows = await self._all(
            "SELECT period, unit, amount FROM member_caps"
            " WHERE platform = ? AND workspace = ? AND user_id = ?",
            _member_key(member),
        )
        return {_period(r[0]): Cap(float(r[2]), _unit(r[1])) for r in rows}

    async def set_cap(self, member: Member, period: CapPeriod, cap: Cap | None) -> None:
        async with self._transaction() as db:
            if cap is None:
                await db.execute(
                    "DELETE FROM member_caps"
                    " WHERE platform = ? AND workspace = ? AND user_id = ? AND period = ?",
                    (*_member_key(member), period),
                )
                return
            await db.execute(
                "INSERT INTO member_caps (platform, workspace, user_id, period, unit, amount)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, workspace, user_id, period)"
                " DO UPDATE SET unit = excluded.unit, amount = excluded.amount",
                (*_member_key(member), period, cap.unit, cap.amount),
            )

    @staticmethod
    async def _insert_audit(db: aiosqlite.Connection, record: AuditRecord) -> None:
        await db.execute(
            "INSERT INTO audit_events (at, platform, workspace, user_id, event, outcome, place)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                _iso(record.at),
                record.platform,
                record.workspace,
                record.user,
                record.event,
                record.outcome,
                record.place,
            ),
        )

    async def record_audit(self, record: AuditRecord) -> None:
        async with self._transaction() as db:
            await self._insert_audit(db, record)

    async def audit_events(
        self,
        *,
        member: Member | None = None,
        user: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        clauses: list[str] = []
        values: list[object] = []
        if member is not None:
            clauses.append("platform = ? AND workspace = ? AND user_id = ?")
            values.extend(_member_key(member))
        if user is not None:
            clauses.append("user_id = ?")
            values.append(user)
        if since is not None:
            clauses.append("at >= ?")
            values.append(_iso(since))
        query = "SELECT at, platform, workspace, user_id, event, outcome, place FROM audit_events"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            values.append(limit)
        rows = await self._all(query, values)
        return [
            AuditRecord(
                at=datetime.fromisoformat(r[0]),
                platform=r[1],
                workspace=r[2],
                user=r[3],
                event=r[4],
                outcome=r[5],
                place=r[6],
            )
            for r in rows
        ]

    async def reseal_all(
        self,
        reseal: Callable[[bytes], bytes],
        *,
        fingerprint: str,
        audit_event: str,
        now: datetime,
    ) -> int:
        async with self._transaction() as db:
            rows = await self._all("SELECT platform, workspace, user_id, sealed FROM member_keys")
            for platform, workspace, user_id, sealed in rows:
                await db.execute(
                    "UPDATE member_keys SET sealed = ?"
                    " WHERE platform = ? AND workspace = ? AND user_id = ?",
                    (reseal(bytes(sealed)), platform, workspace, user_id),
                )
                await self._insert_audit(
                    db,
                    AuditRecord(
                        at=now,
                        platform=platform,
                        workspace=workspace,
                        user=user_id,
                        event=audit_event,
                        outcome="ok",
                    ),
                )
            await db.execute("DELETE FROM master_key_fingerprints")
            await db.execute(
                "INSERT INTO master_key_fingerprints (fingerprint) VALUES (?)", (fingerprint,)
            )
        await self._scrub()
        return len(rows)

    async def get_workspace_config(self, platform: str, workspace: str) -> WorkspaceConfig:
        row = await self._one(
            "SELECT allowed_channels, default_model, threaded, member_caps FROM workspace_config"
            " WHERE platform = ? AND workspace = ?",
            (platform, workspace),
        )
        if row is None:
            return WorkspaceConfig(platform=platform, workspace=workspace)
        return WorkspaceConfig(
            platform=platform,
            workspace=workspace,
            allowed_channels=frozenset(json.loads(row[0])),
            default_model=row[1],
            threaded=bool(row[2]),
            member_caps={
                _period(period): Cap(float(cap["amount"]), _unit(cap["unit"]))
                for period, cap in json.loads(row[3]).items()
            },
        )

    async def save_workspace_config(self, config: WorkspaceConfig) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO workspace_config"
                " (platform, workspace, allowed_channels, default_model, threaded, member_caps)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, workspace) DO UPDATE SET"
                " allowed_channels = excluded.allowed_channels,"
                " default_model = excluded.default_model, threaded = excluded.threaded,"
                " member_caps = excluded.member_caps",
                (
                    config.platform,
                    config.workspace,
                    json.dumps(sorted(config.allowed_channels)),
                    config.default_model,
                    int(config.threaded),
                    json.dumps(
                        {
                            period: {"amount": cap.amount, "unit": cap.unit}
                            for period, cap in config.member_caps.items()
                        }
                    ),
                ),
            )

    async def delete_workspace(self, platform: str, workspace: str) -> int:
        async with self._transaction() as db:
            cur = await db.execute(
                "DELETE FROM member_keys WHERE platform = ? AND workspace = ?",
                (platform, workspace),
            )
            removed = max(cur.rowcount, 0)
            for table in (
                "member_prefs",
                "member_caps",
                "usage_events",
                "audit_events",
                "workspace_config",
            ):
                await db.execute(
                    f"DELETE FROM {table} WHERE platform = ? AND workspace = ?",  # noqa: S608
                    (platform, workspace),
                )
        await self._scrub()
        return removed


def _period(value: str) -> CapPeriod:
    return "monthly" if value == "monthly" else "daily"


def _unit(value: str) -> CapUnit:
    return "tokens" if value == "tokens" else "usd"


def _member_key(member: Member) -> tuple[str, str, str]:
    return (member.platform, member.workspace, member.user)
