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
    # None: one plain connection, as Discord serves any bot below 2,500 guilds. A count runs
    # `shard_ids` of that many shards here (all of them when `shard_ids` is None).
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # Discord accepts one IDENTIFY per 5 seconds (per max_concurrency bucket), so the shards
    # of one process connect this far apart; only tests shorten it.
    identify_interval: float = 5.0

    @classmethod
    def from_settings(cls, settings: DiscordSettings) -> DiscordOptions:
        return cls(
            message_content=settings.message_content,
            dev_guild_id=settings.dev_guild_id,
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
        )

    @property
    def sharded(self) -> bool:
        return self.shard_count is not None

    @property
    def syncs_commands(self) -> bool:
        """Slash commands belong to the application, not to a shard: the process that runs
        shard 0 (or the only process) syncs them, so N processes do not overwrite the same
        command set N times and spend Discord's rate limit on it."""
        return self.shard_count is None or self.shard_ids is None or 0 in self.shard_ids
