"""Workspace settings, and deleting a workspace's rows on uninstall."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

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


# What workspace_config reads, in this order.
CONFIG_COLUMNS = (
    "allowed_channels",
    "default_model",
    "threaded",
    "member_caps",
    "system_prompt",
    "channel_prompts",
)


def workspace_config(platform: str, workspace: str, row: Sequence[Any] | None) -> WorkspaceConfig:
    """A workspace_config row (its CONFIG_COLUMNS in order), or the defaults when there is
    none (NULLs in every column, as an outer join gives)."""
    if row is None or row[0] is None:
        return WorkspaceConfig(platform=platform, workspace=workspace)
    allowed, default_model, threaded, caps, prompt, channel_prompts = row[: len(CONFIG_COLUMNS)]
    return WorkspaceConfig(
        platform=platform,
        workspace=workspace,
        allowed_channels=frozenset(allowed),
        default_model=default_model,
        threaded=bool(threaded),
        member_caps={
            cap_period(period): Cap(float(cap["amount"]), cap_unit(cap["unit"]))
            for period, cap in json.loads(caps).items()
        },
        system_prompt=prompt,
        channel_prompts=dict(json.loads(channel_prompts)),
    )


class WorkspaceRows(PostgresConnection):
    async def get_workspace_config(self, platform: str, workspace: str) -> WorkspaceConfig:
        row = await self._one(
            f"SELECT {', '.join(CONFIG_COLUMNS)} FROM workspace_config"  # noqa: S608 - constants
            " WHERE platform = $1 AND workspace = $2",
            (platform, workspace),
        )
        return workspace_config(platform, workspace, None if row is None else tuple(row))

    async def save_workspace_config(self, config: WorkspaceConfig) -> None:
        await self._pool.execute(
            "INSERT INTO workspace_config"
            " (platform, workspace, allowed_channels, default_model, threaded, member_caps,"
            " system_prompt, channel_prompts)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (platform, workspace) DO UPDATE SET"
            " allowed_channels = excluded.allowed_channels,"
            " default_model = excluded.default_model, threaded = excluded.threaded,"
            " member_caps = excluded.member_caps, system_prompt = excluded.system_prompt,"
            " channel_prompts = excluded.channel_prompts",
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
            config.system_prompt,
            json.dumps(config.channel_prompts, sort_keys=True),
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
