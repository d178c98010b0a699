"""The connection itself: IDENTIFY, heartbeats, zlib-stream, command sync, RESUME, the adapter."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from pydantic import SecretStr

from adapters.discord import DiscordAdapter, DiscordOptions, create_discord_adapter
from app.services import Services
from bot.ports import AdapterConfigError
from tests.discord.conftest import FAST, Bot
from tests.fakes.discord import FakeDiscord


async def test_connects_and_syncs_commands(bot: Bot) -> None:
    fake = bot.fake
    assert len(fake.gateway.identifies) == 1
    assert fake.gateway.compressed_connections == 1, "zlib-stream, as discord.py asked"
    assert fake.gateway.heartbeats >= 1 and fake.gateway.heartbeat_acks >= 1
    assert fake.command_syncs == ["global"]
    assert {"setkey", "removekey", "mykey", "model", "usage", "limit", "help", "forget",
            "byok-config", "instructions", "ask",
            "Ask byok-bot about this"} == set(fake.commands)  # fmt: skip
    assert fake.commands["Ask byok-bot about this"]["type"] == 3  # a message menu entry
    assert bot.client.get_guild(bot.guild.id) is not None
    assert all(call.authorization == f"Bot {fake.token}" for call in fake.rest("GET"))


class TestDevGuild:
    @pytest.fixture
    def options(self) -> DiscordOptions:
        return dataclasses.replace(FAST, dev_guild_id=4242)

    async def test_commands_sync_to_the_dev_guild_only(self, bot: Bot) -> None:
        assert bot.fake.command_syncs == ["4242"]


async def test_dropped_gateway_resumes_and_keeps_answering(bot: Bot) -> None:
    fake = bot.fake
    key = await bot.give_key(bot.alice)
    session = fake.gateway.session_id
    await fake.gateway.drop()
    # Sent while the socket is down: Discord replays it after the RESUME.
    await fake.post_message(bot.alice, bot.general, "still there?", mention_bot=True)
    await fake.wait_for(
        lambda: bool(fake.threads()) and bool(fake.bot_messages(fake.threads()[0].id))
    )
    await bot.idle()

    assert len(fake.gateway.identifies) == 1, "resumed, not a new session"
    [resume] = fake.gateway.resumes
    assert resume["session_id"] == session and resume["token"] == fake.token
    assert fake.gateway.compressed_connections == 2
    [thread] = fake.threads()
    assert fake.bot_messages(thread.id)[0]["content"] == "You asked: still there?"
    assert bot.openai.authorizations("/chat/completions") == [f"Bearer {key}"]

    # And after the resume, new events still arrive.
    await fake.post_message(bot.alice, thread, "and now?", mention_bot=True)
    await fake.wait_for(lambda: len(fake.bot_messages(thread.id)) == 2)


def with_token(
    services: Services, token: str | None, options: DiscordOptions | None = None
) -> DiscordAdapter:
    settings = services.settings.discord.model_copy(
        update={"bot_token": SecretStr(token) if token else None}
    )
    return create_discord_adapter(core=services.core, settings=settings, options=options)


async def test_adapter_runs_until_closed(fake_discord: FakeDiscord, services: Services) -> None:
    adapter = with_token(services, fake_discord.token, FAST)
    assert adapter.name == "discord"
    running = asyncio.create_task(adapter.run())
    await asyncio.wait_for(adapter.client.wait_until_ready(), 10)
    assert fake_discord.gateway.identifies
    await adapter.close()
    await asyncio.wait_for(running, 10)
    assert fake_discord.token not in repr(adapter)


async def test_adapter_reports_a_bad_token(fake_discord: FakeDiscord, services: Services) -> None:
    adapter = with_token(services, "wrong-token")
    with pytest.raises(AdapterConfigError, match="DISCORD_BOT_TOKEN"):
        await adapter.run()
    await adapter.close()


async def test_adapter_reports_a_missing_message_content_intent(
    fake_discord: FakeDiscord, services: Services
) -> None:
    fake_discord.gateway.message_content_allowed = False
    options = dataclasses.replace(FAST, message_content=True)
    adapter = with_token(services, fake_discord.token, options)
    with pytest.raises(AdapterConfigError, match="Message Content intent"):
        await asyncio.wait_for(adapter.run(), 10)
    await adapter.close()


def test_adapter_needs_a_token(services: Services) -> None:
    with pytest.raises(AdapterConfigError, match="DISCORD_BOT_TOKEN"):
        with_token(services, None)
