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
    TurnContext,
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
    # The model does not read images (a 400 naming image input).
    IMAGES_UNSUPPORTED = "images_unsupported"

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
    # Images sent with the text, as data: URLs (never a platform's private URL).
    images: tuple[str, ...] = ()


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
    """Attempts counted in sliding windows. The Store is one, so every process counts into
    the same windows."""

    async def attempt(self, windows: Sequence[RateWindow], now: datetime) -> RateRefusal | None:
        """Count one attempt in every window when each has room; otherwise count nothing
        and return the first full window."""
        ...


class OnceLog(Protocol):
    """Tokens remembered until they expire, to act on something once only (a signed
    request, a delivered event). The Store is one, so of two processes offered the same
    token exactly one acts on it."""

    async def first_time(self, token: str, *, now: datetime, until: datetime) -> bool:
        """True the first time `token` is offered; False while it is remembered (until
        `until`, the moment it could no longer be offered legitimately anyway)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallationKey:
    """Where an app was installed on a platform that installs per workspace (Slack's OAuth
    flow): the org ("" when none; Slack's Enterprise Grid), the workspace ("" for an install
    across the whole org) and the installing user ("" for the workspace's current install,
    whose bot serves everyone there)."""

    platform: str
    org: str
    workspace: str
    user: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedInstallation:
    """An installation as the Store keeps it: everything about it, tokens included, is in
    `sealed` (sealed by the KeyVault to its key); the Store never sees a token."""

    key: InstallationKey
    sealed: bytes
    installed_at: datetime


class InstallationRecords(Protocol):
    """Installations and the one-use `state` of the install flows under way. The Store is
    one, so every process serves every installed workspace and any may finish an install
    another began."""

    async def save_installation(
        self, installation: SealedInstallation, *, fingerprint: str
    ) -> None:
        """Store (or replace) the installation at its key; `fingerprint` names the master key
        that sealed it, as for members' keys."""
        ...

    async def find_installation(self, key: InstallationKey) -> SealedInstallation | None: ...

    async def delete_installations(self, key: InstallationKey, *, every_user: bool = False) -> int:
        """Delete the installation at `key`; with `every_user`, every installation of its org
        and workspace (the current one and each installing user's). Returns how many."""
        ...

    async def issue_oauth_state(self, state: str, *, until: datetime) -> None:
        """Remember a new install flow's `state` until it expires."""
        ...

    async def consume_oauth_state(self, state: str, *, now: datetime) -> bool:
        """True exactly once for a state issued and not yet expired: of two processes offered
        the same state, at most one gets True; it is forgotten either way."""
        ...


@dataclass(frozen=True, slots=True)
class Lease:
    """One of at most `limit` slots of `bucket`, held by `holder` (unique to one grant)
    until it expires, unless renewed first: a process that dies holding it frees the slot
    when the lease runs out."""

    bucket: str
    holder: str
    limit: int


@dataclass(frozen=True, slots=True)
class SlotsTaken:
    """Every slot of the lease's bucket is held by a lease that has not expired."""

    lease: Lease


class Store(AttemptLog, OnceLog, InstallationRecords, Protocol):
    """Everything kept: keys, settings, usage, the audit trail, installations, and the state
    every process shares (attempt windows, "answer once" tokens, leases on members' turns in
    flight). `attempt` and `first_time` come from AttemptLog and OnceLog, installations and
    install flows' states from InstallationRecords."""

    async def close(self) -> None: ...

    async def master_key_fingerprints(self) -> set[str]:
        """Fingerprints of every master key that sealed a row still stored."""
        ...

    async def save_key(
        self,
        member: Member,
        *,
        sealed: bytes,
        masked: str,
        fingerprint: str,
        now: datetime,
        provider: str = "openai",
    ) -> str:
        """Store (or replace) the member's key for `provider` under a new key id, and return
        that id."""
        ...

    async def get_key(self, member: Member, provider: str = "openai") -> StoredKey | None: ...

    async def member_keys(self, member: Member) -> list[StoredKey]:
        """Every key the member stored, one per provider, by provider id."""
        ...

    async def count_keys(self) -> int:
        """How many members have a key stored (valid or not): one cheap read, for health
        checks and the keys-stored metric."""
        ...

    # The three below change the row only while it still holds the key `key_id` names, and
    # say whether it did: a turn that used an earlier key must not touch its replacement.
    async def mark_key_validated(self, member: Member, key_id: str, now: datetime) -> bool: ...

    async def mark_key_invalid(self, member: Member, key_id: str) -> bool: ...

    async def mark_key_used(self, member: Member, key_id: str, now: datetime) -> bool: ...

    async def delete_key(self, member: Member, provider: str = "openai") -> bool: ...

    async def get_model(self, member: Member) -> str | None: ...

    async def set_model(self, member: Member, model: str | None) -> None: ...

    async def get_instructions(self, member: Member) -> str | None:
        """The member's own instructions for their turns (/instructions), if any."""
        ...

    async def set_instructions(self, member: Member, instructions: str | None) -> None: ...

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
        """Re-seal every sealed row (members' keys and installations) in one transaction,
        with an `audit_event` row for each; afterwards only `fingerprint` is recorded.
        Returns how many rows were re-sealed."""
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

    async def turn_context(self, member: Member, *, server: str) -> TurnContext:
        """The settings of `member`'s platform and `server`, and the member's key, model and
        caps, in one read: a turn makes one round trip to the database before its call."""
        ...

    async def save_workspace_config(self, config: WorkspaceConfig) -> None: ...

    async def delete_workspace(self, platform: str, workspace: str) -> int:
        """Delete a workspace's settings and every key and row of its members."""
        ...

    async def take_lease(
        self,
        lease: Lease,
        *,
        windows: Sequence[RateWindow] = (),
        now: datetime,
        until: datetime,
    ) -> SlotsTaken | RateRefusal | None:
        """Grant `lease` until `until` and count one attempt in every window, in one atomic
        step; or change nothing and say why not: every slot taken (checked first, so a busy
        member's refused turn costs no attempt), or the first full window."""
        ...

    async def renew_lease(self, lease: Lease, *, now: datetime, until: datetime) -> bool:
        """Extend a lease still held to `until`; False when it had already expired."""
        ...

    async def release_lease(self, lease: Lease) -> None: ...


class Metrics(Protocol):
    """What the core reports for monitoring (app/metrics.py turns it into Prometheus metrics).

    Every argument is a word from a fixed vocabulary (a platform, an outcome, a failure kind)
    or a duration: never a member, a key or message text, so no label can carry them."""

    def turn_started(self) -> None:
        """A turn began; `turn_finished` follows it exactly once."""
        ...

    def turn_finished(
        self, *, platform: str, outcome: str, latency: float | None, first_token: float | None
    ) -> None:
        """`latency`: seconds from the first provider request to the answer's end, retries
        included; `first_token`: to the first text shown. None when the provider was not
        asked, or (first_token) no text came."""
        ...

    def provider_failed(self, kind: FailureKind) -> None:
        """One provider call failed (a retried call counts each try)."""
        ...


class NoMetrics:
    """The default: reports go nowhere (tests, one-off commands)."""

    def turn_started(self) -> None:
        return None

    def turn_finished(
        self, *, platform: str, outcome: str, latency: float | None, first_token: float | None
    ) -> None:
        return None

    def provider_failed(self, kind: FailureKind) -> None:
        return None


class AdapterConfigError(Exception):
    """An adapter cannot start with these settings; the message is one line naming the variable."""


class Adapter(Protocol):
    name: str

    @property
    def ready(self) -> bool:
        """Connected to its platform and taking messages (for /readyz)."""
        ...

    async def run(self) -> None:
        """Serve until the platform connection ends or the task is cancelled. Raises
        AdapterConfigError when the platform refuses the settings (a rejected token):
        retrying cannot help. Any other failure is worth another try later."""
        ...

    async def close(self, *, grace: float = 0.0) -> None:
        """Stop taking new work; let answers in flight finish for up to `grace` seconds,
        then cut them (marked as cut off) and disconnect."""
        ...
