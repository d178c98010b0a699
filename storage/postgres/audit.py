"""The audit trail's rows."""

from __future__ import annotations

from datetime import datetime

from bot.domain import AuditRecord, Member
from storage.columns import member_key
from storage.postgres.connection import PostgresConnection, utc


class AuditRows(PostgresConnection):
    async def record_audit(self, record: AuditRecord) -> None:
        async with self._transaction() as db:
            await self._insert_audit(db, record)

    async def audit_events(
        self,
        *,
        member: Member | None = None,
        user: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        clauses: list[str] = []
        values: list[object] = []

        def parameter(value: object) -> str:
            values.append(value)
            return f"${len(values)}"

        if member is not None:
            platform, workspace, user_id = member_key(member)
            clauses.append(
                f"platform = {parameter(platform)} AND workspace = {parameter(workspace)}"
                f" AND user_id = {parameter(user_id)}"
            )
        if user is not None:
            clauses.append(f"user_id = {parameter(user)}")
        if since is not None:
            clauses.append(f"at >= {parameter(utc(since))}")
        query = "SELECT at, platform, workspace, user_id, event, outcome, place FROM audit_events"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY at DESC, id DESC"
        if limit is not None:
            query += f" LIMIT {parameter(limit)}"
        rows = await self._all(query, values)
        return [
            AuditRecord(
                at=r["at"],
                platform=r["platform"],
                workspace=r["workspace"],
                user=r["user_id"],
                event=r["event"],
                outcome=r["outcome"],
                place=r["place"],
            )
            for r in rows
        ]
