"""What the fake Discord remembers of the bot's requests and of each interaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord.payloads import FakeChannel, FakeUser

EPHEMERAL = 64


@dataclass(frozen=True)
class RestCall:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any
    raw: str
    # Which bot process made it, when each has its own REST base (FakeDiscord.api_base_for).
    client: str | None = None


@dataclass
class InteractionRecord:
    id: int
    token: str
    user: FakeUser
    channel: FakeChannel
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    # Ephemeral texts the member sees: the message response, edits of it, and followups.
    texts: list[str] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    followup_ids: list[int] = field(default_factory=list)
    # What the member sees now: the (edited) response, then each (edited) followup.
    original: str = ""

    @property
    def shown(self) -> list[str]:
        return [self.original, *(f.get("content") or "" for f in self.followups)]

    @property
    def ephemeral(self) -> bool:
        """Deferred or answered as only-you-can-see, and every followup too."""
        first = self.callbacks[0] if self.callbacks else {}
        flags = (first.get("data") or {}).get("flags", 0)
        return bool(flags & EPHEMERAL) and all(
            f.get("flags", 0) & EPHEMERAL for f in self.followups
        )

    @property
    def modal(self) -> dict[str, Any] | None:
        return next((c["data"] for c in self.callbacks if c["type"] == 9), None)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        return next((c["data"]["choices"] for c in self.callbacks if c["type"] == 8), None)
