"""The core's vocabulary: who asked, what, where, and the records kept about keys,
usage and settings. Every package may import this module; it imports nothing of ours."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal


@dataclass(frozen=True, slots=True)
class Member:
    """The owner of a key: on Discord `workspace` is empty, on Slack it is the team id."""

    platform: str
    workspace: str
    user: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace or '-'}:{self.user}"

    @classmethod
    def parse(cls, text: str) -> Member | None:
        """The member `str(member)` wrote (as the logs print it), or None for other text."""
        parts = text.split(":")
        if len(parts) != 3 or not all(parts):
            return None
        platform, workspace, user = parts
        return cls(platform, "" if workspace == "-" else workspace, user)


@dataclass(frozen=True, slots=True)
class HistoryTurn:
    """One earlier turn of the conversation, oldest first, as the adapter read it."""

    role: Literal["user", "assistant"]
    text: str
    # Who wrote a user turn, as the platform shows their name (never a key or an email):
    # in a shared thread the model must tell the speakers apart. Empty for the bot's turns.
    author: str = ""


class AttachmentRefused(Exception):
    """The platform would not hand the file over (403, 404, a login page instead of it)."""


class AttachmentTooLarge(Exception):
    """The file turned out larger than the limit the core asked for; no more was read."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file on a message, as the platform describes it; nothing is downloaded until the
    core calls `fetch(limit)`, which returns at most `limit` bytes or raises
    AttachmentTooLarge (or AttachmentRefused). The adapter downloads with its own token."""

    name: str
    # What the platform (or the uploader) says it is; never trusted for images.
    mime: str
    size: int | None
    fetch: Callable[[int], Awaitable[bytes]] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message the bot can read, translated from a platform event."""

    member: Member
    text: str
    # A DM, a console DM, or any other place only the member and the bot can see.
    is_private: bool
    # The member mentioned the bot (always true in a DM).
    addressed: bool
    channel: str = ""
    # The Discord guild or Slack team the message was posted in; empty in DMs.
    server: str = ""
    history: tuple[HistoryTurn, ...] = ()
    # The asker's name as the platform shows it (see HistoryTurn.author).
    author_name: str = ""
    # Files on the message, and on the message it replies to.
    attachments: tuple[Attachment, ...] = ()


class Severity(Enum):
    INFO = "info"
    REFUSED = "refused"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Reply:
    """A private answer to a command; `severity` lets an adapter show a refusal inline."""

    text: str
    severity: Severity = Severity.INFO

    @property
    def ok(self) -> bool:
        return self.severity is Severity.INFO


class ReplyLost(Exception):
    """Raised by a sink when the platform refuses the answer for good (rate limits outlasted,
    thread deleted, permission lost): the core stops the provider call, so the member does
    not pay for text nobody sees, records it, and tells the member privately."""


KeyStatus = Literal["valid", "invalid"]
# Keys stored before providers were listed (bot/providers.py) are this provider's.
LEGACY_PROVIDER = "openai"
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
class KeyUse:
    """A key answered a turn: its `last used` time, written with the next usage batch."""

    member: Member
    key_id: str
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
    # New each time a key is set (not when it is re-sealed): what a turn compares before it
    # changes the status of "the member's key".
    key_id: str
    sealed: bytes = field(repr=False)
    masked: str
    status: KeyStatus
    set_at: datetime
    validated_at: datetime | None
    last_used_at: datetime | None
    # The listed provider the key is for (bot/providers.py); keys from before are OpenAI's.
    provider: str = LEGACY_PROVIDER


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
    # The admins' system prompt for the whole workspace, and per channel (channel id ->
    # prompt); a channel's wins over the workspace's, which wins over the operator's.
    system_prompt: str | None = None
    channel_prompts: dict[str, str] = field(default_factory=dict)

    def allows(self, channel: str) -> bool:
        return not self.allowed_channels or channel in self.allowed_channels


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a turn needs from the Store before its provider call, read in one round trip: the
    settings of the place it was asked in, and the asker's key, model and caps."""

    config: WorkspaceConfig
    # Every key the member holds, one per provider: the turn's model says which it uses.
    keys: tuple[StoredKey, ...]
    model: str | None
    caps: dict[CapPeriod, Cap] = field(default_factory=dict)
    # The asker's own instructions (/instructions), added to their turns' system prompt.
    instructions: str | None = None

    def key_for(self, provider: str) -> StoredKey | None:
        return next((key for key in self.keys if key.provider == provider), None)
