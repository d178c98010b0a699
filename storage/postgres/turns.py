"""What a turn reads before its provider call, in one query."""

from __future__ import annotations

import json

from bot.domain import Cap, CapPeriod, Member, TurnContext
from storage.columns import cap_period, cap_unit, member_key
from storage.postgres.connection import PostgresConnection
from storage.postgres.keys import KEY_COLUMNS, stored_key
from storage.postgres.workspaces import CONFIG_COLUMNS, workspace_config

# One query is one round trip to the server: the member's key rows (one per provider) and the
# workspace's row are outer-joined; the model, the member's instructions and the caps are
# sub-selects (the caps as a JSON array, so any number of them fits the one row).
_TURN_CONTEXT = (
    "SELECT "  # noqa: S608 - column names are constants
    + ", ".join(f"k.{column}" for column in KEY_COLUMNS)
    + ", "
    + ", ".join(f"w.{column}" for column in CONFIG_COLUMNS)
    + ", (SELECT model FROM member_prefs"
    " WHERE platform = $1 AND workspace = $2 AND user_id = $3)"
    ", (SELECT instructions FROM member_prefs"
    " WHERE platform = $1 AND workspace = $2 AND user_id = $3)"
    ", (SELECT COALESCE(json_agg(json_build_array(period, unit, amount)), '[]')::text"
    " FROM member_caps WHERE platform = $1 AND workspace = $2 AND user_id = $3)"
    " FROM (SELECT 1) AS one"
    " LEFT JOIN member_keys AS k"
    " ON k.platform = $1 AND k.workspace = $2 AND k.user_id = $3"
    " LEFT JOIN workspace_config AS w ON w.platform = $1 AND w.workspace = $4"
)


class TurnRows(PostgresConnection):
    async def turn_context(self, member: Member, *, server: str) -> TurnContext:
        platform, workspace, user = member_key(member)
        rows = [
            tuple(row)
            for row in await self._point_read(_TURN_CONTEXT, (platform, workspace, user, server))
        ]
        # One row per key the member holds (one per provider), or one row with no key.
        values = rows[0]
        key_end = len(KEY_COLUMNS)
        config_end = key_end + len(CONFIG_COLUMNS)
        model, instructions, caps = values[config_end : config_end + 3]
        return TurnContext(
            config=workspace_config(platform, server, values[key_end:config_end]),
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
