"""Shards in one process: AutoShardedClient over the fake Discord's sharded gateway, what each
shard is sent, the plain client when nothing is set, and Discord's refusals as one line."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest
from pydantic import SecretStr

from adapters.discord import DiscordOptions, create_discord_adapter
from adapters.discord.client import ByokDiscordClient
from app.services import Services
from bot.ports import AdapterConfigError
from tests.discord.conftest import FAST, Bot, run_client, stop_client
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeUser
from tests.fakes.discord.gateway import shard_of
from tests.fakes.discord.payloads import BOT_BASE
from tests.fakes.openai_server import FakeOpenAI

SHARDED = dataclasses.replace(FAST, shard_count=2, identify_interval=0.05)


@pytest.fixture
def shards() -> int:
    return 2


@dataclass
class Sharded:
    fake: FakeDiscord
    client: ByokDiscordClient
    openai: FakeOpenAI
    alice: FakeUser
    # channels[n] is a channel of a guild on shard n.
    channels: list[FakeChannel]

    async def give_key(self, user: FakeUser, where: FakeChannel) -> str:
        key = make_key()
        self.openai.behaviours[key] = openai_server.VALID
        opened = await self.fake.command(user, where, "setkey")
        await self.fake.wait_for(lambda: opened.modal is not None)
        submitted = await self.fake.submit_modal(opened, key)
        await self.fake.wait_for(lambda: any("saved" in text for text in submitted.texts))
        return key

    async def ask(self, channel: FakeChannel, question: str) -> None:
        await self.fake.post_message(self.alice, channel, question, mention_bot=True)
        await asyncio.sleep(0.05)
        await self.client.background.idle()

    def answers(self) -> list[str]:
        channels = [*self.fake.threads(), self.fake.dm_channel(self.alice)]
        return [m["content"] for c in channels for m in self.fake.bot_messages(c.id)]


def two_guilds(fake: FakeDiscord) -> tuple[FakeUser, list[FakeChannel]]:
    alice = fake.add_user("alice")
    channels = []
    for shard in (0, 1):
        guild = fake.add_guild(
            f"on shard {shard}", owner=alice, bot_permissions=BOT_BASE, shard=shard
        )
        assert shard_of(guild.id, 2) == shard
        channels.append(fake.add_channel(guild, "general"))
    return alice, channels


@pytest.fixture
async def sharded(
    fake_discord: FakeDiscord,
    services: Services,
    fake_openai: FakeOpenAI,
    options: DiscordOptions,
) -> AsyncIterator[Sharded]:
    alice, channels = two_guilds(fake_discord)
    client, task = await run_client(fake_discord, services, options)
    try:
        yield Sharded(fake_discord, client, fake_openai, alice, channels)
    finally:
        await stop_client(client, task)


class TestEveryShardInOneProcess:
    """DISCORD_SHARD_COUNT=2 and no ids: both shards here, each on its own connection."""

    @pytest.fixture
    def options(self) -> DiscordOptions:
        return SHARDED

    async def test_each_shard_is_sent_only_its_guilds(self, sharded: Sharded) -> None:
        fake, gateway = sharded.fake, sharded.fake.gateway
        assert isinstance(sharded.client, discord.AutoShardedClient)
        assert [i["shard"] for i in gateway.identifies] == [[0, 2], [1, 2]]
        assert sorted(sharded.client.shards) == [0, 1]
        for shard, channel in enumerate(sharded.channels):
            session = gateway.session(shard)
            assert [g["id"] for g in session.received("GUILD_CREATE")] == [str(channel.guild_id)]
            [ready] = session.received("READY")
            assert ready["shard"] == [shard, 2]
            assert [g["id"] for g in ready["guilds"]] == [str(channel.guild_id)]
        assert {g.id for g in sharded.client.guilds} == {c.guild_id for c in sharded.channels}
        assert fake.command_syncs == ["global"]

    async def test_answers_in_both_shards_and_dms_on_shard_0(self, sharded: Sharded) -> None:
        fake, gateway = sharded.fake, sharded.fake.gateway
        key = await sharded.give_key(sharded.alice, fake.dm_channel(sharded.alice))
        await sharded.ask(sharded.channels[0], "on zero")
        await sharded.ask(sharded.channels[1], "on one")
        await sharded.ask(fake.dm_channel(sharded.alice), "in private")

        assert sorted(sharded.answers()) == [
            "You asked: in private",
            "You asked: on one",
            "You asked: on zero",
        ]
        assert sharded.openai.authorizations("/chat/completions") == [f"Bearer {key}"] * 3
        asked = {
            shard: [m["content"] for m in gateway.session(shard).received("MESSAGE_CREATE")]
            for shard in (0, 1)
        }
        mention = fake.bot.mention
        assert asked == {
            0: [f"{mention} on zero", f"{mention} in private"],
            1: [f"{mention} on one"],
        }
        # /setkey was typed in a DM: an interaction outside any guild goes to shard 0.
        assert len(gateway.session(0).received("INTERACTION_CREATE")) == 2
        assert not gateway.session(1).received("INTERACTION_CREATE")

    async def test_a_dropped_shard_resumes_and_the_other_keeps_serving(
        self, sharded: Sharded
    ) -> None:
        fake, gateway = sharded.fake, sharded.fake.gateway
        bob = fake.add_user("bob")
        await sharded.give_key(sharded.alice, sharded.channels[0])
        await sharded.give_key(bob, sharded.channels[0])
        dropped = gateway.session(1).session_id
        await gateway.drop(1)
        # Sent while shard 1 is down: Discord replays it after the RESUME.
        await fake.post_message(sharded.alice, sharded.channels[1], "missed?", mention_bot=True)
        await fake.post_message(bob, sharded.channels[0], "still here?", mention_bot=True)
        await fake.wait_for(
            lambda: {"You asked: missed?", "You asked: still here?"} <= set(sharded.answers())
        )
        assert [r["session_id"] for r in gateway.resumes] == [dropped]
        assert len(gateway.identifies) == 2, "resumed, not identified again"


class TestSomeShardsInThisProcess:
    """DISCORD_SHARD_IDS=1 of 2: the other guild's events go to another process."""

    @pytest.fixture
    def options(self) -> DiscordOptions:
        return dataclasses.replace(SHARDED, shard_ids=(1,))

    async def test_only_its_shard_connects_and_answers(self, sharded: Sharded) -> None:
        fake = sharded.fake
        assert [i["shard"] for i in fake.gateway.identifies] == [[1, 2]]
        assert [g.id for g in sharded.client.guilds] == [sharded.channels[1].guild_id]
        # Slash commands are the application's: the process running shard 0 syncs them.
        assert fake.command_syncs == []

        await sharded.give_key(sharded.alice, sharded.channels[1])
        elsewhere = await fake.command(sharded.alice, sharded.channels[0], "mykey")
        in_private = await fake.command(sharded.alice, fake.dm_channel(sharded.alice), "mykey")
        await sharded.ask(sharded.channels[1], "on one")
        await sharded.ask(sharded.channels[0], "on zero")
        await sharded.ask(fake.dm_channel(sharded.alice), "in private")
        assert sharded.answers() == ["You asked: on one"]
        assert not elsewhere.callbacks and not in_private.callbacks
        assert len(sharded.openai.authorizations("/chat/completions")) == 1


async def test_without_shard_settings_the_client_is_plain_and_unsharded(bot: Bot) -> None:
    assert not isinstance(bot.client, discord.AutoShardedClient)
    [identify] = bot.fake.gateway.identifies
    assert "shard" not in identify
    assert not any(call.path == "/gateway/bot" for call in bot.fake.calls)


async def test_discord_requiring_shards_is_one_line_naming_the_count(
    fake_discord: FakeDiscord, services: Services
) -> None:
    fake_discord.gateway.sharding_required = True
    settings = services.settings.discord.model_copy(
        update={"bot_token": SecretStr(fake_discord.token)}
    )
    adapter = create_discord_adapter(core=services.core, settings=settings, options=FAST)
    with pytest.raises(AdapterConfigError, match=r"^DISCORD_SHARD_COUNT: Discord requires"):
        await asyncio.wait_for(adapter.run(), 10)
    await adapter.close()

    # With a count, the same Discord lets the bot in.
    sharded = create_discord_adapter(core=services.core, settings=settings, options=SHARDED)
    running = asyncio.create_task(sharded.run())
    await asyncio.wait_for(sharded.client.wait_until_ready(), 10)
    await sharded.close()
    await asyncio.wait_for(running, 10)


async def test_a_shard_discord_refuses_is_one_line(
    fake_discord: FakeDiscord, services: Services
) -> None:
    # The settings never let this through; an operator can still give processes different
    # counts, which Discord answers with 4010 for a shard id past the count it expects.
    settings = services.settings.discord.model_copy(
        update={"bot_token": SecretStr(fake_discord.token)}
    )
    options = dataclasses.replace(SHARDED, shard_ids=(2,))
    adapter = create_discord_adapter(core=services.core, settings=settings, options=options)
    with pytest.raises(AdapterConfigError, match=r"^DISCORD_SHARD_IDS: Discord refused"):
        await asyncio.wait_for(adapter.run(), 10)
    await adapter.close()
