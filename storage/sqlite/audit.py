"""The audit trail's rows."""

from __future__ import annotations

from datetime import datetime

from bot.domain import AuditRecord, Member
from storage.columns import member_key
from storage.sqlite.connection import SqliteConnection, iso_time


class AuditRows(SqliteConnection):
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
        if member is not None:
            clauses.append("platform = ? AND workspace = ? AND user_id = ?")
            values.extend(member_key(member))
        if user is not None:
            clauses.append("user_id = ?")
            values.append(user)
        if since is not None:
            clauses.append("at >= ?")
            values.append(iso_time(since))
        query = "SELECT at, platform, workspace, user_id, event, outcome, place FROM audit_events"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            values.append(limit)
        rows = await self._all(query, values)
        return [
            AuditRecord(
                at=datetime.fromisoformat(r[0]),
                platform=r[1],
                workspace=r[2],
                user=r[3],
                event=r[4],
                outcome=r[5],
                place=r[6],
            )
            for r in rows
        ]
