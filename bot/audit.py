"""The audit trail: what happened to keys and settings. Never key material, never message text."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum

from bot.domain import FORGOTTEN_EVENT, AuditRecord, Member
from bot.ports import Store, StoreError

log = logging.getLogger(__name__)


class AuditEvent(StrEnum):
    KEY_SET = "key_set"
    KEY_VALIDATED = "key_validated"
    KEY_REFUSED = "key_refused"
    # Too many keys tried: outcome `member` or `workspace`, whichever bound was reached.
    KEY_INTAKE_THROTTLED = "key_intake_throttled"
    KEY_REMOVED = "key_removed"
    KEY_RESEALED = "key_resealed"
    LEAK_DETECTED = "leak_detected"
    PROVIDER_AUTH_FAILED = "provider_auth_failed"
    ADMIN_CONFIG_CHANGED = "admin_config_changed"
    MEMBER_FORGOTTEN = FORGOTTEN_EVENT
    WORKSPACE_FORGOTTEN = "workspace_forgotten"


class AuditTrail:
    def __init__(
        self, *, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    async def record(
        self, member: Member, event: AuditEvent, outcome: str = "ok", *, place: str = ""
    ) -> None:
        """`outcome` is one of our own short words (ok, refused, unreachable...), never
        provider text, so nothing a member typed or a key can reach the trail."""
        await self._write(
            AuditRecord(
                at=self._clock(),
                platform=member.platform,
                workspace=member.workspace,
                user=member.user,
                event=event.value,
                outcome=outcome,
                place=place,
            )
        )

    async def record_anonymous(
        self, platform: str, workspace: str, event: AuditEvent, outcome: str = "ok"
    ) -> None:
        await self._write(
            AuditRecord(
                at=self._clock(),
                platform=platform,
                workspace=workspace,
                user=None,
                event=event.value,
                outcome=outcome,
            )
        )

    async def _write(self, record: AuditRecord) -> None:
        # The act it records has already happened (a key saved, a leak warned about): a
        # database that cannot take the event must not turn that into a reported failure.
        try:
            await self._store.record_audit(record)
        except StoreError as error:
            log.error(
                "audit event %s of %s:%s not written: %s",
                record.event,
                record.platform,
                record.user or "-",
                error,
            )


def format_event(record: AuditRecord) -> str:
    where = f"{record.platform}:{record.workspace or '-'}"
    who = record.user or "(anonymous)"
    place = f" in {record.place}" if record.place else ""
    return (
        f"{record.at.strftime('%Y-%m-%d %H:%M:%S')} UTC  {where}  {who}  "
        f"{record.event}  {record.outcome}{place}"
    )


def event_as_json(record: AuditRecord) -> str:
    data = asdict(record)
    data["at"] = record.at.isoformat()
    return json.dumps(data, sort_keys=True)
