"""The Discord adapter: slash commands, a /setkey modal, threaded streaming answers.

Names are loaded when first used (PEP 562): reading the Discord settings (app/settings.py
does, whatever platforms are configured) must not import discord.py."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "DiscordAdapter": "adapters.discord.adapter",
    "create_discord_adapter": "adapters.discord.adapter",
    "ByokDiscordClient": "adapters.discord.client",
    "build_discord_client": "adapters.discord.client",
    "INVITE_PERMISSIONS": "adapters.discord.invite",
    "invite_link": "adapters.discord.invite",
    "invite_url": "adapters.discord.invite",
    "DiscordOptions": "adapters.discord.options",
    "SinkTiming": "adapters.discord.sink",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
