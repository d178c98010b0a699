"""Installations (sealed, never opened here) and the one-use states of install flows."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from bot.ports import InstallationKey, SealedInstallation
from storage.sqlite.connection import SqliteConnection, iso_time, parse_time

_KEY = "platform = ? AND org = ? AND workspace = ?"


def _key(key: InstallationKey) -> tuple[str, str, str]:
    return (key.platform, key.org, key.workspace)


class InstallationRows(SqliteConnection):
    async def save_installation(
        self, installation: SealedInstallation, *, fingerprint: str
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO installations"
                " (platform, org, workspace, user_id, sealed, installed_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, org, workspace, user_id)"
                " DO UPDATE SET sealed = excluded.sealed, installed_at = excluded.installed_at",
                (
                    *_key(installation.key),
                    installation.key.user,
                    installation.sealed,
                    iso_time(installation.installed_at),
                ),
            )
            await db.execute(
                "INSERT OR IGNORE INTO master_key_fingerprints (fingerprint) VALUES (?)",
                (fingerprint,),
            )
        # A replaced installation's old ciphertext is scrubbed like a deleted key.
        await self._scrub()

    async def find_installation(self, key: InstallationKey) -> SealedInstallation | None:
        row = await self._one(
            f"SELECT sealed, installed_at FROM installations WHERE {_KEY} AND user_id = ?",  # noqa: S608
            (*_key(key), key.user),
        )
        if row is None:
            return None
        installed_at = parse_time(row[1])
        assert installed_at is not None
        return SealedInstallation(key=key, sealed=bytes(row[0]), installed_at=installed_at)

    async def delete_installations(self, key: InstallationKey, *, every_user: bool = False) -> int:
        async with self._transaction() as db:
            if every_user:
                cursor = await db.execute(
                    f"DELETE FROM installations WHERE {_KEY}",  # noqa: S608
                    _key(key),
                )
            else:
                cursor = await db.execute(
                    f"DELETE FROM installations WHERE {_KEY} AND user_id = ?",  # noqa: S608
                    (*_key(key), key.user),
                )
            deleted = max(cursor.rowcount, 0)
        await self._scrub()
        return deleted

    async def issue_oauth_state(self, state: str, *, until: datetime) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO oauth_states (state, expires_at) VALUES (?, ?)",
                (state, until.timestamp()),
            )

        await self._in_one_hop(work)

    async def consume_oauth_state(self, state: str, *, now: datetime) -> bool:
        def work(db: sqlite3.Connection) -> list[Any]:
            # Deleted whether or not it is still valid; the one writer makes it one step.
            rows = db.execute(
                "DELETE FROM oauth_states WHERE state = ? RETURNING expires_at", (state,)
            ).fetchall()
            # Swept here rather than with the shared state: few flows, no hot path.
            db.execute("DELETE FROM oauth_states WHERE expires_at <= ?", (now.timestamp(),))
            return rows

        rows = await self._in_one_hop(work)
        return bool(rows) and float(rows[0][0]) > now.timestamp()
