"""The ports the core needs from the outside: a database (Store), a provider
(ProviderGateway), a way to answer (ReplySink) and the adapters the entry point runs.

`storage/` implements Store, `bot/openai_gateway.py` ProviderGateway, `adapters/`
ReplySink and Adapter; the core depends only on these protocols."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from bot.domain import (
    AuditRecord,
    Cap,
    CapPeriod,
    KeyUse,
    Member,
    ModelUsage,
    StoredKey,
    UsageRecord,
    WorkspaceConfig,
)


class ReplySink(Protocol):
    """How the core answers one incoming message; each adapter provides one per message.

    `start` is called once before the provider is asked (show a typing indicator);
    the first `append` makes the answer visible; `finish` is called once after `start`,
    whether or not any text was appended. `private` reaches only the asker. `append` and
    `finish` raise ReplyLost when the answer can no longer be shown.
    """

    async def start(self) -> None: ...

    async def append(self, text: str) -> None: ...

    async def finish(self) -> None: ...

    async def private(self, text: str) -> None: ...

    async def delete_original(self) -> bool:
        """Try to remove the member's message; say whether it is gone."""
        ...


class FailureKind(Enum):
    UNAUTHORIZED = "unauthorized"
    NO_CREDIT = "no_credit"
    RATE_LIMITED = "rate_limited"
    REGION = "region"
    # A 403 other than the region block: a restricted key, not a wrong one.
    PERMISSION = "permission"
    MODEL_NOT_FOUND = "model_not_found"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    SERVER = "server"
    CUT = "cut"
    BAD_REQUEST = "bad_request"

    @property
    def transient(self) -> bool:
        return self in {
            FailureKind.TIMEOUT,
            FailureKind.UNREACHABLE,
            FailureKind.SERVER,
            FailureKind.CUT,
        }


class ProviderError(Exception):
    """A classified provider failure; carries no key and no raw provider text."""

    def __init__(
        self, kind: FailureKind, *, retry_after: float | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(kind.value)
        self.kind = kind
        self.retry_after = retry_after
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """A piece of a streamed answer: text, or (last) the usage the provider reported."""

    text: str = ""
    usage: TokenUsage | None = None


class ProviderGateway(Protocol):
    async def list_models(self, api_key: str) -> list[str]: ...

    def stream_chat(
        self, *, api_key: str, model: str, messages: Sequence[ChatMessage], max_tokens: int
    ) -> AsyncGenerator[ChatChunk, None]: ...

    async def complete_chat(
        self, *, api_key: str, model: str, messages: Sequence[ChatMessage], max_tokens: int
    ) -> ChatChunk:
        """The whole answer in one response, for endpoints that cannot stream."""
        ...

    async def close(self) -> None: ...


class StoreError(Exception):
    """The database could not do what was asked: disk full, locked, an I/O error, the
    connection lost. A write that raises it changed nothing (its transaction rolled back);
    the caller tells the member so and the bot keeps serving."""


class Store(Protocol):
    async def close(self) -> None: ...

    async def master_key_fingerprints(self) -> set[str]:
        """Fingerprints of every master key that sealed a row still stored."""
        ...

    async def save_key(
        self, member: Member, *, sealed: bytes, masked: str, fingerprint: str, now: datetime
    ) -> str:
        """Store (or replace) the member's key under a new key id, and return that id."""
        ...

    async def get_key(self, member: Member) -> StoredKey | None: ...

    # The three below change the row only while it still holds the key `key_id` names, and
    # say whether it did: a turn that used an earlier key must not touch its replacement.
    async def mark_key_validated(self, member: Member, key_id: str, now: datetime) -> bool: ...

    async def mark_key_invalid(self, member: Member, key_id: str) -> bool: ...

    async def mark_key_used(self, member: Member, key_id: str, now: datetime) -> bool: ...

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

    async def record_usage(
        self, records: Sequence[UsageRecord], *, key_uses: Sequence[KeyUse] = ()
    ) -> None:
        """Append a batch of usage rows and note when keys were last used, in one
        transaction; a use is noted only while `key_id` is still the member's stored key."""
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


@dataclass(frozen=True, slots=True)
class RateWindow:
    """At most `limit` attempts in any `span` for one bucket (a member, a workspace...)."""

    bucket: str
    limit: int
    span: timedelta


@dataclass(frozen=True, slots=True)
class RateRefusal:
    window: RateWindow
    # How long until the full window has room for one more attempt.
    retry_in: timedelta


class AttemptLog(Protocol):
    """Attempts counted in sliding windows. Kept in memory for one process today
    (bot/local_state.py); a Store can take it over so several processes share one count."""

    async def attempt(self, windows: Sequence[RateWindow], now: datetime) -> RateRefusal | None:
        """Count one attempt in every window when each has room; otherwise count nothing
        and return the first full window."""
        ...


class OnceLog(Protocol):
    """Tokens remembered until they expire, to act on something once only (a signed
    request). Kept in memory for one process today (bot/local_state.py); the Store's
    "answer once" table can take it over so several processes share it."""

    async def first_time(self, token: str, *, now: datetime, until: datetime) -> bool:
        """True the first time `token` is offered; False while it is remembered (until
        `until`, the moment it could no longer be offered legitimately anyway)."""
        ...


class AdapterConfigError(Exception):
    """An adapter cannot start with these settings; the message is one line naming the variable."""


class Adapter(Protocol):
    name: str

    async def run(self) -> None:
        """Serve until the platform connection ends or the task is cancelled. Raises
        AdapterConfigError when the platform refuses the settings (a rejected token):
        retrying cannot help. Any other failure is worth another try later."""
        ...

    async def close(self, *, grace: float = 0.0) -> None:
        """Stop taking new work; let answers in flight finish for up to `grace` seconds,
        then cut them (marked as cut off) and disconnect."""
        ...
