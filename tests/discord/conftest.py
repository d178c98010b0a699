"""A real discord.py client connected over loopback to the fake Discord, wired to the real core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import discord
import pytest
import yarl

from adapters.discord import DiscordOptions, SinkTiming, build_discord_client
from adapters.discord.client import ByokDiscordClient
from app.services import Services
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeGuild, FakeUser
from tests.fakes.discord.payloads import BOT_BASE, MANAGE_MESSAGES
from tests.fakes.openai_server import FakeOpenAI

FAST = DiscordOptions(
    timing=SinkTiming(edit_interval=0.0, notice_lifetime=0.05),
    guild_ready_timeout=0.05,
)


@dataclass
class Bot:
    """The world of one test: Discord, its people and places, the bot and the provider."""

    fake: FakeDiscord
    client: ByokDiscordClient
    services: Services
    openai: FakeOpenAI
    guild: FakeGuild
    general: FakeChannel
    alice: FakeUser
    bob: FakeUser

    async def give_key(self, user: FakeUser, behaviour: str = openai_server.VALID) -> str:
        """Register a key the way a member would: /setkey, then the modal."""
        key = make_key()
        self.openai.behaviours[key] = behaviour
        opened = await self.fake.command(user, self.general, "setkey")
        await self.fake.wait_for(lambda: opened.modal is not None)
        submitted = await self.fake.submit_modal(opened, key)
        await self.fake.wait_for(lambda: len(submitted.texts) >= 1)
        return key

    async def idle(self) -> None:
        """Wait for every message the bot is handling to be answered."""
        await asyncio.sleep(0.05)
        await self.client.background.idle()


@pytest.fixture
def shards() -> int:
    """The shard count the fake Discord recommends; a module overrides it."""
    return 1


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch, shards: int) -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord(shards=shards).start()
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    # A plain Client, and an AutoShardedClient given a count, dial this; only an
    # AutoShardedClient left to pick its own count asks GET /gateway/bot.
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url)
    )
    yield fake
    await fake.close()


async def run_client(
    fake: FakeDiscord, services: Services, options: DiscordOptions = FAST
) -> tuple[ByokDiscordClient, asyncio.Task[None]]:
    client = build_discord_client(core=services.core, options=options)
    task = asyncio.create_task(client.start(fake.token), name="discord-client")
    ready = asyncio.create_task(client.wait_until_ready())
    await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        await client.close()
        await task  # re-raises why the client could not start
        raise AssertionError("the client did not become ready")
    return client, task


async def stop_client(client: ByokDiscordClient, task: asyncio.Task[None]) -> None:
    await client.close()
    await asyncio.wait_for(task, 10)


@pytest.fixture
def options() -> DiscordOptions:
    return FAST


@pytest.fixture
async def bot(
    fake_discord: FakeDiscord,
    services: Services,
    fake_openai: FakeOpenAI,
    options: DiscordOptions,
) -> AsyncIterator[Bot]:
    alice = fake_discord.add_user("alice")
    bob = fake_discord.add_user("bob")
    guild = fake_discord.add_guild(
        "Test server", owner=alice, bot_permissions=BOT_BASE | MANAGE_MESSAGES
    )
    general = fake_discord.add_channel(guild, "general")
    client, task = await run_client(fake_discord, services, options)
    try:
        yield Bot(fake_discord, client, services, fake_openai, guild, general, alice, bob)
    finally:
        await stop_client(client, task)


def with_options(**changes: object) -> Callable[[], DiscordOptions]:
    def make() -> DiscordOptions:
        return replace(FAST, **changes)  # type: ignore[arg-type]

    return make
