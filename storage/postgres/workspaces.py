"""Workspace settings, and deleting a workspace's rows on uninstall."""

from __future__ import annotations

import json

from bot.domain import Cap, WorkspaceConfig
from storage.columns import cap_period, cap_unit
from storage.postgres.connection import PostgresConnection, affected

# Every table with a workspace's rows, after member_keys (whose count is reported).
_WORKSPACE_TABLES = (
    "member_prefs",
    "member_caps",
    "usage_events",
    "audit_events",
    "workspace_config",
)


class WorkspaceRows(PostgresConnection):
    async def get_workspace_config(self, platform: str, workspace: str) -> WorkspaceConfig:
        row = await self._one(
            "SELECT allowed_channels, default_model, threaded, member_caps FROM workspace_config"
            " WHERE platform = $1 AND workspace = $2",
            (platform, workspace),
        )
        if row is None:
            return WorkspaceConfig(platform=platform, workspace=workspace)
        return WorkspaceConfig(
            platform=platform,
            workspace=workspace,
            allowed_channels=frozenset(row["allowed_channels"]),
            default_model=row["default_model"],
            threaded=bool(row["threaded"]),
            member_caps={
                cap_period(period): Cap(float(cap["amount"]), cap_unit(cap["unit"]))
                for period, cap in json.loads(row["member_caps"]).items()
            },
        )

    async def save_workspace_config(self, config: WorkspaceConfig) -> None:
        await self._pool.execute(
            "INSERT INTO workspace_config"
            " (platform, workspace, allowed_channels, default_model, threaded, member_caps)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (platform, workspace) DO UPDATE SET"
            " allowed_channels = excluded.allowed_channels,"
            " default_model = excluded.default_model, threaded = excluded.threaded,"
            " member_caps = excluded.member_caps",
            config.platform,
            config.workspace,
            sorted(config.allowed_channels),
            config.default_model,
            config.threaded,
            json.dumps(
                {
                    period: {"amount": cap.amount, "unit": cap.unit}
                    for period, cap in config.member_caps.items()
                }
            ),
        )

    async def delete_workspace(self, platform: str, workspace: str) -> int:
        async with self._transaction() as db:
            status = await db.execute(
                "DELETE FROM member_keys WHERE platform = $1 AND workspace = $2",
                platform,
                workspace,
            )
            for table in _WORKSPACE_TABLES:
                await db.execute(
                    f"DELETE FROM {table} WHERE platform = $1 AND workspace = $2",  # noqa: S608
                    platform,
                    workspace,
                )
        return affected(status)
