"""How the Discord client is set up, from the settings or from a test."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.discord.settings import DiscordSettings
from adapters.discord.sink import SinkTiming


@dataclass(frozen=True, slots=True)
class DiscordOptions:
    # Needs the privileged Message Content intent switched on in the developer portal.
    message_content: bool = False
    # Sync slash commands to this server only (instant) instead of globally.
    dev_guild_id: int | None = None
    timing: SinkTiming = field(default_factory=SinkTiming)
    # How many earlier messages of a thread or DM are read as context (the core trims further).
    history_limit: int = 50
    # discord.py waits this long after the last GUILD_CREATE before it calls itself ready.
    guild_ready_timeout: float = 2.0

    @classmethod
    def from_settings(cls, settings: DiscordSettings) -> DiscordOptions:
        return cls(
            message_content=settings.message_content,
            dev_guild_id=settings.dev_guild_id,
        )
