"""The vocabulary adapters and the core share: who asked, what, where, and how to answer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Member:
    """The owner of a key: on Discord `workspace` is empty, on Slack it is the team id."""

    platform: str
    workspace: str
    user: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace or '-'}:{self.user}"


@dataclass(frozen=True, slots=True)
class HistoryTurn:
    """One earlier turn of the conversation, oldest first, as the adapter read it."""

    role: Literal["user", "assistant"]
    text: str


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
