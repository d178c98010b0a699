"""The Store protocol: everything the core asks of a database, engine-neutral."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bot.messages import Member

KeyStatus = Literal["valid", "invalid"]
# The one audit event that survives /forget, with no user on it.
FORGOTTEN_EVENT = "member_data_forgotten"
CapPeriod = Literal["daily", "monthly"]
CapUnit = Literal["usd", "tokens"]


@dataclass(frozen=True, slots=True)
class Cap:
    amount: float
    unit: CapUnit


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One provider call; a failed call has an outcome and no tokens."""

    member: Member
    server: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    outcome: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ModelUsage:
    model: str
    prompt_tokens: int
    completion_tokens: int
    calls: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who did what to a key or a setting, where and with what outcome; never key material."""

    at: datetime
    platform: str
    workspace: str
    user: str | None
    event: str
    outcome: str
    place: str = ""


@dataclass(frozen=True, slots=True)
class StoredKey:
    member: Member
    sealed: bytes = field(repr=False)
    masked: str
    status: KeyStatus
    set_at: datetime
    validated_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkspaceConfig:
    """What a server or workspace admin chose; empty `allowed_channels` means every channel."""

    platform: str
    workspace: str
    allowed_channels: frozenset[str] = frozenset()
    default_model: str | None = None
    threaded: bool = True
    # Caps on each member's spending in this workspace, set by its admins.
    member_caps: dict[CapPeriod, Cap] = field(default_factory=dict)

    def allows(self, channel: str) -> bool:
        return not self.allowed_channels or channel in self.allowed_channels


class Store(Protocol):
    async def close(self) -> None: ...

    async def master_key_fingerprints(self) -> set[str]:
        """Fingerprints of every master key that sealed a row still stored."""
        ...

    async def save_key(
        self, member: Member, *, sealed: bytes, masked: str, fingerprint: str, now: datetime
    ) -> None: ...

    async def get_key(self, member: Member) -> StoredKey | None: ...

    async def mark_key_validated(self, member: Member, now: datetime) -> None: ...

    async def mark_key_invalid(self, member: Member) -> None: ...

    async def mark_key_used(self, member: Member, now: datetime) -> None: ...

    async def delete_key(self, member: Member) -> bool: ...

    async def get_model(self, member: Member) -> str | None: ...

    async def set_model(self, member: Member, model: str | None) -> None: ...

    async def forget_member(self, member: Member, *, now: datetime) -> None:
        """Delete every row of this member, usage and audit included, leaving no bytes behind;
        one anonymous "member data forgotten" audit event remains."""
        ...

    async def reseal_all(
        self,
        reseal: Callable[[bytes], bytes],
        *,
        fingerprint: str,
        audit_event: str,
        now: datetime,
    ) -> int:
        """Re-seal every key in one transaction, with an `audit_event` row for each;
        afterwards only `fingerprint` is recorded."""
        ...

    async def record_usage(self, records: Sequence[UsageRecord]) -> None:
        """Append a batch of usage rows in one transaction."""
        ...

    async def usage_by_model(
        self, member: Member, *, since: datetime, server: str | None = None
    ) -> list[ModelUsage]: ...

    async def get_caps(self, member: Member) -> dict[CapPeriod, Cap]: ...

    async def set_cap(self, member: Member, period: CapPeriod, cap: Cap | None) -> None: ...

    async def record_audit(self, record: AuditRecord) -> None: ...

    async def audit_events(
        self,
        *,
        member: Member | None = None,
        user: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Newest first."""
        ...

    async def get_workspace_config(self, platform: str, workspace: str) -> WorkspaceConfig: ...

    async def save_workspace_config(self, config: WorkspaceConfig) -> None: ...

    async def delete_workspace(self, platform: str, workspace: str) -> int:
        """Delete a workspace's settings and every key and row of its members."""
        ...
