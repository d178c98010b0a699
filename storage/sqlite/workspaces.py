"""Workspace settings, and deleting a workspace's rows on uninstall."""

from __future__ import annotations

import json

from bot.domain import Cap, WorkspaceConfig
from storage.columns import cap_period, cap_unit
from storage.sqlite.connection import SqliteConnection


class WorkspaceRows(SqliteConnection):
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
                cap_period(period): Cap(float(cap["amount"]), cap_unit(cap["unit"]))
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
