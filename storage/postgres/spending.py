"""The usage ledger's rows and members' own spending caps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain import Cap, CapPeriod, KeyUse, Member, ModelUsage, UsageRecord
from storage.columns import cap_period, cap_unit, member_key
from storage.postgres.connection import PostgresConnection, utc


class SpendingRows(PostgresConnection):
    async def record_usage(
        self, records: Sequence[UsageRecord], *, key_uses: Sequence[KeyUse] = ()
    ) -> None:
        if not records and not key_uses:
            return
        async with self._transaction() as db:
            if key_uses:
                await db.executemany(
                    "UPDATE member_keys SET last_used_at = $1"
                    " WHERE platform = $2 AND workspace = $3 AND user_id = $4 AND key_id = $5",
                    [(utc(use.at), *member_key(use.member), use.key_id) for use in key_uses],
                )
            if not records:
                return
            await db.executemany(
                "INSERT INTO usage_events (platform, workspace, user_id, server, model,"
                " prompt_tokens, completion_tokens, outcome, at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                [
                    (
                        *member_key(r.member),
                        r.server,
                        r.model,
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.outcome,
                        utc(r.at),
                    )
                    for r in records
                ],
            )

    async def usage_by_model(
        self, member: Member, *, since: datetime, server: str | None = None
    ) -> list[ModelUsage]:
        query = (
            "SELECT model, SUM(prompt_tokens)::bigint, SUM(completion_tokens)::bigint, COUNT(*)"
            " FROM usage_events"
            " WHERE platform = $1 AND workspace = $2 AND user_id = $3 AND at >= $4"
        )
        values: list[object] = [*member_key(member), utc(since)]
        if server is not None:
            values.append(server)
            query += f" AND server = ${len(values)}"
        # COLLATE "C": the same byte order as SQLite's, whatever the database's locale.
        rows = await self._all(query + ' GROUP BY model ORDER BY model COLLATE "C"', values)
        return [ModelUsage(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def get_caps(self, member: Member) -> dict[CapPeriod, Cap]:
        rows = await self._all(
            "SELECT period, unit, amount FROM member_caps"
            " WHERE platform = $1 AND workspace = $2 AND user_id = $3",
            member_key(member),
        )
        return {cap_period(r[0]): Cap(float(r[2]), cap_unit(r[1])) for r in rows}

    async def set_cap(self, member: Member, period: CapPeriod, cap: Cap | None) -> None:
        if cap is None:
            await self._pool.execute(
                "DELETE FROM member_caps"
                " WHERE platform = $1 AND workspace = $2 AND user_id = $3 AND period = $4",
                *member_key(member),
                period,
            )
            return
        await self._pool.execute(
            "INSERT INTO member_caps (platform, workspace, user_id, period, unit, amount)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (platform, workspace, user_id, period)"
            " DO UPDATE SET unit = excluded.unit, amount = excluded.amount",
            *member_key(member),
            period,
            cap.unit,
            cap.amount,
        )
