"""The Discord adapter: slash commands, a /setkey modal, threaded streaming answers."""

from __future__ import annotations

from adapters.discord.adapter import DiscordAdapter, create_discord_adapter
from adapters.discord.client import ByokDiscordClient, build_discord_client
from adapters.discord.invite import INVITE_PERMISSIONS, invite_link, invite_url
from adapters.discord.options import DiscordOptions
from adapters.discord.sink import SinkTiming

__all__ = [
    "INVITE_PERMISSIONS",
    "ByokDiscordClient",
    "DiscordAdapter",
    "DiscordOptions",
    "SinkTiming",
    "build_discord_client",
    "create_discord_adapter",
    "invite_link",
    "invite_url",
]
