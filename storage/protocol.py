"""The Store protocol: everything the core asks of a database, engine-neutral."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bot.messages import Member

KeyStatus = Literal["valid", "invalid"]


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

    async def forget_member(self, member: Member) -> None:
        """Delete every row of this member, leaving no bytes behind."""
        ...

    async def reseal_all(self, reseal: Callable[[bytes], bytes], *, fingerprint: str) -> int:
        """Re-seal every key in one transaction; afterwards only `fingerprint` is recorded."""
        ...

    async def get_workspace_config(self, platform: str, workspace: str) -> WorkspaceConfig: ...

    async def save_workspace_config(self, config: WorkspaceConfig) -> None: ...

    async def delete_workspace(self, platform: str, workspace: str) -> int:
        """Delete a workspace's settings and every key and row of its members."""
        ...
