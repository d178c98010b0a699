"""Sealed keys, members' preferences, master-key fingerprints, and forgetting a member."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.domain import (
    FORGOTTEN_EVENT,
    LEGACY_PROVIDER,
    AuditRecord,
    KeyStatus,
    Member,
    StoredKey,
)
from storage.columns import member_key
from storage.sqlite.connection import SqliteConnection, iso_time, parse_time

_MEMBER_TABLES = ("member_keys", "member_prefs", "member_caps", "usage_events", "audit_events")
# What stored_key reads, in this order.
KEY_COLUMNS = (
    "sealed",
    "masked",
    "status",
    "set_at",
    "validated_at",
    "last_used_at",
    "key_id",
    "provider",
)


def stored_key(member: Member, row: Sequence[Any]) -> StoredKey:
    """A member_keys row, its KEY_COLUMNS in order."""
    sealed, masked, status, set_at, validated_at, last_used_at, key_id, provider = row[
        : len(KEY_COLUMNS)
    ]
    set_time = parse_time(set_at)
    assert set_time is not None
    state: KeyStatus = "valid" if status == "valid" else "invalid"
    return StoredKey(
        member=member,
        key_id=str(key_id),
        sealed=bytes(sealed),
        masked=str(masked),
        status=state,
        set_at=set_time,
        validated_at=parse_time(validated_at),
        last_used_at=parse_time(last_used_at),
        provider=str(provider),
    )


class KeyRows(SqliteConnection):
    async def master_key_fingerprints(self) -> set[str]:
        rows = await self._all("SELECT fingerprint FROM master_key_fingerprints")
        return {str(row[0]) for row in rows}

    async def save_key(
        self,
        member: Member,
        *,
        sealed: bytes,
        masked: str,
        fingerprint: str,
        now: datetime,
        provider: str = LEGACY_PROVIDER,
    ) -> str:
        key_id = secrets.token_hex(16)
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO member_keys (platform, workspace, user_id, provider, key_id, sealed,"
                " masked, status, set_at, validated_at, last_used_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'valid', ?, ?, NULL)"
                " ON CONFLICT (platform, workspace, user_id, provider) DO UPDATE SET"
                " key_id = excluded.key_id, sealed = excluded.sealed, masked = excluded.masked,"
                " status = 'valid', set_at = excluded.set_at,"
                " validated_at = excluded.validated_at, last_used_at = NULL",
                (
                    *member_key(member),
                    provider,
                    key_id,
                    sealed,
                    masked,
                    iso_time(now),
                    iso_time(now),
                ),
            )
            await db.execute(
                "INSERT OR IGNORE INTO master_key_fingerprints (fingerprint) VALUES (?)",
                (fingerprint,),
            )
        # Replacing a key frees the old ciphertext's pages; scrub them like a delete.
        await self._scrub()
        return key_id

    async def count_keys(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM member_keys")
        return int(row[0]) if row is not None else 0

    async def get_key(self, member: Member, provider: str = LEGACY_PROVIDER) -> StoredKey | None:
        rows = await self._point_read(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM member_keys"  # noqa: S608 - constants
            " WHERE platform = ? AND workspace = ? AND user_id = ? AND provider = ?",
            (*member_key(member), provider),
        )
        return stored_key(member, rows[0]) if rows else None

    async def member_keys(self, member: Member) -> list[StoredKey]:
        rows = await self._all(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM member_keys"  # noqa: S608 - constants
            " WHERE platform = ? AND workspace = ? AND user_id = ? ORDER BY provider",
            member_key(member),
        )
        return [stored_key(member, row) for row in rows]

    async def _update_key(
        self, member: Member, key_id: str, assignment: str, *values: object
    ) -> bool:
        async with self._transaction() as db:
            cur = await db.execute(
                f"UPDATE member_keys SET {assignment}"  # noqa: S608 - fixed column names only
                " WHERE platform = ? AND workspace = ? AND user_id = ? AND key_id = ?",
                (*values, *member_key(member), key_id),
            )
            return cur.rowcount > 0

    async def mark_key_validated(self, member: Member, key_id: str, now: datetime) -> bool:
        return await self._update_key(
            member, key_id, "status = 'valid', validated_at = ?", iso_time(now)
        )

    async def mark_key_invalid(self, member: Member, key_id: str) -> bool:
        return await self._update_key(member, key_id, "status = 'invalid'")

    async def mark_key_used(self, member: Member, key_id: str, now: datetime) -> bool:
        return await self._update_key(member, key_id, "last_used_at = ?", iso_time(now))

    async def delete_key(self, member: Member, provider: str = LEGACY_PROVIDER) -> bool:
        async with self._transaction() as db:
            cur = await db.execute(
                "DELETE FROM member_keys"
                " WHERE platform = ? AND workspace = ? AND user_id = ? AND provider = ?",
                (*member_key(member), provider),
            )
            deleted = cur.rowcount > 0
        await self._scrub()
        return deleted

    async def get_model(self, member: Member) -> str | None:
        row = await self._one(
            "SELECT model FROM member_prefs WHERE platform = ? AND workspace = ? AND user_id = ?",
            member_key(member),
        )
        return str(row[0]) if row and row[0] else None

    async def set_model(self, member: Member, model: str | None) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO member_prefs (platform, workspace, user_id, model) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (platform, workspace, user_id) DO UPDATE SET model = excluded.model",
                (*member_key(member), model),
            )

    async def get_instructions(self, member: Member) -> str | None:
        row = await self._one(
            "SELECT instructions FROM member_prefs"
            " WHERE platform = ? AND workspace = ? AND user_id = ?",
            member_key(member),
        )
        return str(row[0]) if row and row[0] else None

    async def set_instructions(self, member: Member, instructions: str | None) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO member_prefs (platform, workspace, user_id, instructions)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (platform, workspace, user_id)"
                " DO UPDATE SET instructions = excluded.instructions",
                (*member_key(member), instructions),
            )
        if instructions is None:
            # Cleared instructions leave no bytes behind, like a deleted key.
            await self._scrub()

    async def forget_member(self, member: Member, *, now: datetime) -> None:
        async with self._transaction() as db:
            for table in _MEMBER_TABLES:
                await db.execute(
                    f"DELETE FROM {table}"  # noqa: S608 - table names are constants
                    " WHERE platform = ? AND workspace = ? AND user_id = ?",
                    member_key(member),
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

    async def reseal_all(
        self,
        reseal: Callable[[bytes], bytes],
        *,
        fingerprint: str,
        audit_event: str,
        now: datetime,
    ) -> int:
        async with self._transaction() as db:
            rows = await self._all(
                "SELECT platform, workspace, user_id, provider, sealed FROM member_keys"
            )
            for platform, workspace, user_id, provider, sealed in rows:
                await db.execute(
                    "UPDATE member_keys SET sealed = ?"
                    " WHERE platform = ? AND workspace = ? AND user_id = ? AND provider = ?",
                    (reseal(bytes(sealed)), platform, workspace, user_id, provider),
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
            installations = await self._all(
                "SELECT platform, org, workspace, user_id, sealed FROM installations"
            )
            for platform, org, workspace, user_id, sealed in installations:
                await db.execute(
                    "UPDATE installations SET sealed = ? WHERE platform = ? AND org = ?"
                    " AND workspace = ? AND user_id = ?",
                    (reseal(bytes(sealed)), platform, org, workspace, user_id),
                )
                await self._insert_audit(
                    db,
                    AuditRecord(
                        at=now,
                        platform=platform,
                        workspace=workspace or org,
                        user=None,
                        event=audit_event,
                        outcome="ok",
                    ),
                )
            await db.execute("DELETE FROM master_key_fingerprints")
            await db.execute(
                "INSERT INTO master_key_fingerprints (fingerprint) VALUES (?)", (fingerprint,)
            )
        await self._scrub()
        return len(rows) + len(installations)
