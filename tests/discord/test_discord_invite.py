"""`byok-bot invite-url`: the fewest permissions, never Administrator."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import discord
import pytest
from pydantic import SecretStr

from adapters.discord import invite_url
from adapters.discord.settings import DiscordSettings
from app.settings import Settings
from bot.ports import AdapterConfigError
from tests.fakes.discord import FakeDiscord

EXPECTED = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    read_message_history=True,
    manage_messages=True,
)


def parts(url: str) -> dict[str, list[str]]:
    split = urlsplit(url)
    assert (split.scheme, split.netloc, split.path) == ("https", "discord.com", "/oauth2/authorize")
    return parse_qs(split.query)


async def test_invite_url_from_the_application_id() -> None:
    settings = DiscordSettings(_env_file=None, DISCORD_APPLICATION_ID="123456789")  # type: ignore[call-arg]
    query = parts(await invite_url(settings))
    assert query["client_id"] == ["123456789"]
    assert query["scope"] == ["bot applications.commands"]
    permissions = discord.Permissions(int(query["permissions"][0]))
    assert permissions == EXPECTED
    assert not permissions.administrator
    assert permissions.value == (1 << 10) | (1 << 11) | (1 << 38) | (1 << 35) | (1 << 16) | (
        1 << 13
    )


async def test_invite_url_asks_discord_with_the_token(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    with_token = settings.discord.model_copy(update={"bot_token": SecretStr(fake_discord.token)})
    query = parts(await invite_url(with_token))
    assert query["client_id"] == [str(fake_discord.application_id)]
    [call] = fake_discord.rest("GET", "/oauth2/applications/@me")
    assert call.authorization == f"Bot {fake_discord.token}"


async def test_invite_url_with_a_rejected_token(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    wrong = settings.discord.model_copy(update={"bot_token": SecretStr("nope")})
    with pytest.raises(AdapterConfigError, match="rejected"):
        await invite_url(wrong)


async def test_invite_url_needs_an_id_or_a_token() -> None:
    with pytest.raises(AdapterConfigError, match="DISCORD_APPLICATION_ID"):
        await invite_url(DiscordSettings(_env_file=None))  # type: ignore[call-arg]
