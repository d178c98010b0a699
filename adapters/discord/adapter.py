"""The Discord adapter as `byok-bot run` sees it."""

from __future__ import annotations

import discord

from adapters.discord.client import ByokDiscordClient, build_discord_client
from adapters.discord.options import DiscordOptions
from adapters.discord.settings import DiscordSettings
from bot.core import ByokCore
from bot.ports import AdapterConfigError

# Gateway close codes that only a change of settings can cure (discord.py gives up on them).
SHARDING_REFUSED = {
    4010: "DISCORD_SHARD_IDS: Discord refused a shard id for DISCORD_SHARD_COUNT; give every "
    "process the same count and ids from 0 to count-1",
    4011: "DISCORD_SHARD_COUNT: Discord requires sharding for a bot in this many servers; set "
    "it to at least one shard per 2,500 servers (about one per 1,000 leaves room to grow)",
}


class DiscordAdapter:
    name = "discord"

    def __init__(self, *, client: ByokDiscordClient, token: str) -> None:
        self.client = client
        self._token = token

    def __repr__(self) -> str:
        return f"DiscordAdapter(user={self.client.user})"

    @property
    def ready(self) -> bool:
        return self.client.is_ready() and not self.client.is_closed()

    async def run(self) -> None:
        try:
            await self.client.start(self._token)
        except discord.LoginFailure:
            raise AdapterConfigError("DISCORD_BOT_TOKEN was rejected by Discord") from None
        except discord.ConnectionClosed as closed:
            problem = SHARDING_REFUSED.get(closed.code)
            if problem is None:
                raise
            raise AdapterConfigError(problem) from None
        except discord.PrivilegedIntentsRequired:
            raise AdapterConfigError(
                "DISCORD_MESSAGE_CONTENT=true, but the Message Content intent is off in the "
                "Discord developer portal (Bot page); switch it on or unset the variable"
            ) from None

    async def close(self, *, grace: float = 0.0) -> None:
        # Answers finish over REST, so the gateway stays up until they have.
        await self.client.background.close(grace=grace)
        if not self.client.is_closed():
            await self.client.close()


def create_discord_adapter(
    *, core: ByokCore, settings: DiscordSettings, options: DiscordOptions | None = None
) -> DiscordAdapter:
    token = settings.bot_token
    if token is None:
        raise AdapterConfigError("DISCORD_BOT_TOKEN is not set")
    return DiscordAdapter(
        client=build_discord_client(
            core=core, options=options or DiscordOptions.from_settings(settings)
        ),
        token=token.get_secret_value(),
    )
