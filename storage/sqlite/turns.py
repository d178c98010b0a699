"""What a turn reads before its provider call, in one statement."""

from __future__ import annotations

import json

from bot.domain import Cap, CapPeriod, Member, TurnContext
from storage.columns import cap_period, cap_unit, member_key
from storage.sqlite.connection import SqliteConnection
from storage.sqlite.keys import KEY_COLUMNS, stored_key
from storage.sqlite.workspaces import CONFIG_COLUMNS, workspace_config

# One statement, read on the loop's own thread (SqliteConnection._point_read): the member's key
# rows (one per provider, or none) and the workspace's row are outer-joined; the model, the
# member's instructions and the caps are sub-selects (the caps as a JSON array, so any number
# of them fits a row).
_TURN_CONTEXT = (
    "SELECT "  # noqa: S608 - column names are constants
    + ", ".join(f"k.{column}" for column in KEY_COLUMNS)
    + ", "
    + ", ".join(f"w.{column}" for column in CONFIG_COLUMNS)
    + ", (SELECT model FROM member_prefs"
    " WHERE platform = :platform AND workspace = :workspace AND user_id = :user)"
    ", (SELECT instructions FROM member_prefs"
    " WHERE platform = :platform AND workspace = :workspace AND user_id = :user)"
    ", (SELECT json_group_array(json_array(period, unit, amount)) FROM member_caps"
    " WHERE platform = :platform AND workspace = :workspace AND user_id = :user)"
    " FROM (SELECT 1)"
    " LEFT JOIN member_keys AS k"
    " ON k.platform = :platform AND k.workspace = :workspace AND k.user_id = :user"
    " LEFT JOIN workspace_config AS w ON w.platform = :platform AND w.workspace = :server"
)


class TurnRows(SqliteConnection):
    async def turn_context(self, member: Member, *, server: str) -> TurnContext:
        platform, workspace, user = member_key(member)
        rows = await self._point_read(
            _TURN_CONTEXT,
            {"platform": platform, "workspace": workspace, "user": user, "server": server},
        )
        # One row per key the member holds (one per provider), or one row with no key.
        row = rows[0]
        key_end = len(KEY_COLUMNS)
        config_end = key_end + len(CONFIG_COLUMNS)
        model, instructions, caps = row[config_end : config_end + 3]
        return TurnContext(
            config=workspace_config(platform, server, row[key_end:config_end]),
            keys=tuple(stored_key(member, r[:key_end]) for r in rows if r[0] is not None),
            model=str(model) if model else None,
            caps=_caps(caps),
            instructions=str(instructions) if instructions else None,
        )


def _caps(encoded: str | None) -> dict[CapPeriod, Cap]:
    return {
        cap_period(period): Cap(float(amount), cap_unit(unit))
        for period, unit, amount in json.loads(encoded or "[]")
    }
