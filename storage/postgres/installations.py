"""Installations (sealed, never opened here) and the one-use states of install flows."""

from __future__ import annotations

from datetime import datetime

from bot.ports import InstallationKey, SealedInstallation
from storage.postgres.connection import PostgresConnection, affected, utc

_KEY = "platform = $1 AND org = $2 AND workspace = $3"


def _key(key: InstallationKey) -> tuple[str, str, str]:
    return (key.platform, key.org, key.workspace)


class InstallationRows(PostgresConnection):
    async def save_installation(
        self, installation: SealedInstallation, *, fingerprint: str
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO installations"
                " (platform, org, workspace, user_id, sealed, installed_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (platform, org, workspace, user_id)"
                " DO UPDATE SET sealed = excluded.sealed, installed_at = excluded.installed_at",
                *_key(installation.key),
                installation.key.user,
                installation.sealed,
                utc(installation.installed_at),
            )
            await db.execute(
                "INSERT INTO master_key_fingerprints (fingerprint) VALUES ($1)"
                " ON CONFLICT DO NOTHING",
                fingerprint,
            )

    async def find_installation(self, key: InstallationKey) -> SealedInstallation | None:
        row = await self._one(
            f"SELECT sealed, installed_at FROM installations WHERE {_KEY} AND user_id = $4",  # noqa: S608
            (*_key(key), key.user),
        )
        if row is None:
            return None
        return SealedInstallation(
            key=key, sealed=bytes(row["sealed"]), installed_at=row["installed_at"]
        )

    async def delete_installations(self, key: InstallationKey, *, every_user: bool = False) -> int:
        async with self._transaction() as db:
            if every_user:
                status = await db.execute(
                    f"DELETE FROM installations WHERE {_KEY}",  # noqa: S608
                    *_key(key),
                )
            else:
                status = await db.execute(
                    f"DELETE FROM installations WHERE {_KEY} AND user_id = $4",  # noqa: S608
                    *_key(key),
                    key.user,
                )
        return affected(status)

    async def issue_oauth_state(self, state: str, *, until: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO oauth_states (state, expires_at) VALUES ($1, $2)", state, utc(until)
            )

    async def consume_oauth_state(self, state: str, *, now: datetime) -> bool:
        async with self._transaction() as db:
            # The row is deleted by one transaction only: of two racing, the other finds none.
            expires_at = await db.fetchval(
                "DELETE FROM oauth_states WHERE state = $1 RETURNING expires_at", state
            )
            # Swept here rather than with the shared state: few flows, no hot path.
            await db.execute("DELETE FROM oauth_states WHERE expires_at <= $1", utc(now))
        return expires_at is not None and expires_at > utc(now)
