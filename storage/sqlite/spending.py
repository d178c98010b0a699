"""The usage ledger's rows and members' own spending caps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain import Cap, CapPeriod, KeyUse, Member, ModelUsage, UsageRecord
from storage.columns import cap_period, cap_unit, member_key
from storage.sqlite.connection import SqliteConnection, iso_time


class SpendingRows(SqliteConnection):
    async def record_usage(
        self, records: Sequence[UsageRecord], *, key_uses: Sequence[KeyUse] = ()
    ) -> None:
        if not records and not key_uses:
            return
        async with self._transaction() as db:
            # Each statement is a trip to aiosqlite's thread: none for an empty list.
            if key_uses:
                await db.executemany(
                    "UPDATE member_keys SET last_used_at = ?"
                    " WHERE platform = ? AND workspace = ? AND user_id = ? AND key_id = ?",
                    [(iso_time(use.at), *member_key(use.member), use.key_id) for use in key_uses],
                )
            if not records:
                return
            await db.executemany(
                "INSERT INTO usage_events (platform, workspace, user_id, server, model,"
                " prompt_tokens, completion_tokens, outcome, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *member_key(r.member),
                        r.server,
                        r.model,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.outcome,
                        iso_time(r.at),
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
        values: list[object] = [*member_key(member), iso_time(since)]
        if server is not None:
            query += " AND server = ?"
            values.append(server)
        rows = await self._all(query + " GROUP BY model ORDER BY model", values)
        return [ModelUsage(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def get_caps(self, member: Member) -> dict[CapPeriod, Cap]:
        rows = await self._all(
            "SELECT period, unit, amount FROM member_caps"
            " WHERE platform = ? AND workspace = ? AND user_id = ?",
            member_key(member),
        )
        return {cap_period(r[0]): Cap(float(r[2]), cap_unit(r[1])) for r in rows}

    async def set_cap(self, member: Member, period: CapPeriod, cap: Cap | None) -> None:
        async with self._transaction() as db:
            if cap is None:
                await db.execute(
                    "DELETE FROM member_caps"
                    " WHERE platform = ? AND workspace = ? AND user_id = ? AND period = ?",
                    (*member_key(member), period),
                )
                return
            await db.execute(
                "INSERT INTO member_caps (platform, workspace, user_id, period, unit, amount)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, workspace, user_id, period)"
                " DO UPDATE SET unit = excluded.unit, amount = excluded.amount",
                (*member_key(member), period, cap.unit, cap.amount),
            )
