"""The OAuth2 invite link: the fewest permissions the bot needs, never Administrator."""

from __future__ import annotations

import aiohttp
import discord

from adapters.discord.settings import DiscordSettings
from bot.ports import AdapterConfigError

SCOPES = ("bot", "applications.commands")

INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    read_message_history=True,
    # Only for the leak guard: deleting a message that contains a key.
    manage_messages=True,
)


def invite_link(application_id: str | int) -> str:
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=SCOPES)


async def application_id_from_token(token: str) -> str:
    """Ask Discord which application this bot token belongs to."""
    url = f"{discord.http.Route.BASE}/oauth2/applications/@me"
    headers = {"Authorization": f"Bot {token}"}
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=15)) as response,
        ):
            if response.status == 401:
                raise AdapterConfigError("DISCORD_BOT_TOKEN was rejected by Discord")
            if response.status != 200:
                raise AdapterConfigError(
                    f"Discord answered HTTP {response.status}; set DISCORD_APPLICATION_ID instead"
                )
            data = await response.json()
    except aiohttp.ClientError as error:
        raise AdapterConfigError(
            f"cannot reach Discord ({type(error).__name__}); set DISCORD_APPLICATION_ID instead"
        ) from None
    return str(data["id"])


async def invite_url(settings: DiscordSettings) -> str:
    """The invite URL from DISCORD_APPLICATION_ID, else from the bot token."""
    if settings.application_id:
        return invite_link(settings.application_id.strip())
    if settings.bot_token is None:
        raise AdapterConfigError("set DISCORD_APPLICATION_ID or DISCORD_BOT_TOKEN")
    return invite_link(await application_id_from_token(settings.bot_token.get_secret_value()))
