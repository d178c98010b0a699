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
from storage.postgres.connection import PostgresConnection, affected, utc

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
    state: KeyStatus = "valid" if status == "valid" else "invalid"
    return StoredKey(
        member=member,
        key_id=str(key_id),
        sealed=bytes(sealed),
        masked=str(masked),
        status=state,
        set_at=set_at,
        validated_at=validated_at,
        last_used_at=last_used_at,
        provider=str(provider),
    )


class KeyRows(PostgresConnection):
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
                " VALUES ($1, $2, $3, $4, $5, $6, $7, 'valid', $8, $8, NULL)"
                " ON CONFLICT (platform, workspace, user_id, provider) DO UPDATE SET"
                " key_id = excluded.key_id, sealed = excluded.sealed, masked = excluded.masked,"
                " status = 'valid', set_at = excluded.set_at,"
                " validated_at = excluded.validated_at, last_used_at = NULL",
                *member_key(member),
                provider,
                key_id,
                sealed,
                masked,
                utc(now),
            )
            await db.execute(
                "INSERT INTO master_key_fingerprints (fingerprint) VALUES ($1)"
                " ON CONFLICT DO NOTHING",
                fingerprint,
            )
        return key_id

    async def count_keys(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM member_keys")
        return int(row[0]) if row is not None else 0

    async def get_key(self, member: Member, provider: str = LEGACY_PROVIDER) -> StoredKey | None:
        rows = await self._point_read(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM member_keys"  # noqa: S608 - constants
            " WHERE platform = $1 AND workspace = $2 AND user_id = $3 AND provider = $4",
            (*member_key(member), provider),
        )
        return stored_key(member, tuple(rows[0])) if rows else None

    async def member_keys(self, member: Member) -> list[StoredKey]:
        rows = await self._all(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM member_keys"  # noqa: S608 - constants
            " WHERE platform = $1 AND workspace = $2 AND user_id = $3 ORDER BY provider",
            member_key(member),
        )
        return [stored_key(member, tuple(row)) for row in rows]

    async def _update_key(
        self, member: Member, key_id: str, assignment: str, *values: object
    ) -> bool:
        # The assignment's own parameters come first ($1...); the row's identity follows.
        first = len(values) + 1
        status = await self._pool.execute(
            f"UPDATE member_keys SET {assignment}"  # noqa: S608 - fixed column names only
            f" WHERE platform = ${first} AND workspace = ${first + 1}"
            f" AND user_id = ${first + 2} AND key_id = ${first + 3}",
            *values,
            *member_key(member),
            key_id,
        )
        return affected(status) > 0

    async def mark_key_validated(self, member: Member, key_id: str, now: datetime) -> bool:
        return await self._update_key(
            member, key_id, "status = 'valid', validated_at = $1", utc(now)
        )

    async def mark_key_invalid(self, member: Member, key_id: str) -> bool:
        return await self._update_key(member, key_id, "status = 'invalid'")

    async def mark_key_used(self, member: Member, key_id: str, now: datetime) -> bool:
        return await self._update_key(member, key_id, "last_used_at = $1", utc(now))

    async def delete_key(self, member: Member, provider: str = LEGACY_PROVIDER) -> bool:
        # The row goes; its dead tuple holds only ciphertext until VACUUM (see connection.py).
        status = await self._pool.execute(
            "DELETE FROM member_keys"
            " WHERE platform = $1 AND workspace = $2 AND user_id = $3 AND provider = $4",
            *member_key(member),
            provider,
        )
        return affected(status) > 0

    async def get_model(self, member: Member) -> str | None:
        row = await self._one(
            "SELECT model FROM member_prefs"
            " WHERE platform = $1 AND workspace = $2 AND user_id = $3",
            member_key(member),
        )
        return str(row[0]) if row and row[0] else None

    async def set_model(self, member: Member, model: str | None) -> None:
        await self._pool.execute(
            "INSERT INTO member_prefs (platform, workspace, user_id, model)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (platform, workspace, user_id) DO UPDATE SET model = excluded.model",
            *member_key(member),
            model,
        )

    async def get_instructions(self, member: Member) -> str | None:
        row = await self._one(
            "SELECT instructions FROM member_prefs"
            " WHERE platform = $1 AND workspace = $2 AND user_id = $3",
            member_key(member),
        )
        return str(row[0]) if row and row[0] else None

    async def set_instructions(self, member: Member, instructions: str | None) -> None:
        await self._pool.execute(
            "INSERT INTO member_prefs (platform, workspace, user_id, instructions)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (platform, workspace, user_id)"
            " DO UPDATE SET instructions = excluded.instructions",
            *member_key(member),
            instructions,
        )

    async def forget_member(self, member: Member, *, now: datetime) -> None:
        async with self._transaction() as db:
            for table in _MEMBER_TABLES:
                await db.execute(
                    f"DELETE FROM {table}"  # noqa: S608 - table names are constants
                    " WHERE platform = $1 AND workspace = $2 AND user_id = $3",
                    *member_key(member),
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

    async def reseal_all(
        self,
        reseal: Callable[[bytes], bytes],
        *,
        fingerprint: str,
        audit_event: str,
        now: datetime,
    ) -> int:
        async with self._transaction() as db:
            # What SQLite's one writer gives for free: no key is set, changed or removed by
            # another process until this commits, so none sealed under an old master key
            # slips in after the fingerprints are replaced. Reads go on meanwhile.
            await db.execute(
                "LOCK TABLE member_keys, installations, master_key_fingerprints IN EXCLUSIVE MODE"
            )
            rows = await db.fetch(
                "SELECT platform, workspace, user_id, provider, sealed FROM member_keys"
            )
            # A reseal that fails part-way raises here, before anything is written.
            resealed = [
                (
                    reseal(bytes(row["sealed"])),
                    row["platform"],
                    row["workspace"],
                    row["user_id"],
                    row["provider"],
                )
                for row in rows
            ]
            await db.executemany(
                "UPDATE member_keys SET sealed = $1"
                " WHERE platform = $2 AND workspace = $3 AND user_id = $4 AND provider = $5",
                resealed,
            )
            await db.executemany(
                "INSERT INTO audit_events (at, platform, workspace, user_id, event, outcome)"
                " VALUES ($1, $2, $3, $4, $5, 'ok')",
                [
                    (utc(now), row["platform"], row["workspace"], row["user_id"], audit_event)
                    for row in rows
                ],
            )
            installations = await db.fetch(
                "SELECT platform, org, workspace, user_id, sealed FROM installations"
            )
            resealed_installations = [
                (
                    reseal(bytes(row["sealed"])),
                    row["platform"],
                    row["org"],
                    row["workspace"],
                    row["user_id"],
                )
                for row in installations
            ]
            await db.executemany(
                "UPDATE installations SET sealed = $1"
                " WHERE platform = $2 AND org = $3 AND workspace = $4 AND user_id = $5",
                resealed_installations,
            )
            await db.executemany(
                "INSERT INTO audit_events (at, platform, workspace, user_id, event, outcome)"
                " VALUES ($1, $2, $3, NULL, $4, 'ok')",
                [
                    (utc(now), row["platform"], row["workspace"] or row["org"], audit_event)
                    for row in installations
                ],
            )
            await db.execute("DELETE FROM master_key_fingerprints")
            await db.execute(
                "INSERT INTO master_key_fingerprints (fingerprint) VALUES ($1)", fingerprint
            )
        return len(rows) + len(installations)
