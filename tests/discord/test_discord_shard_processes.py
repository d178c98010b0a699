"""Two `byok-bot run` processes, shard 0 and shard 1 of two, against one fake Discord, one
PostgreSQL database and the fake provider: each is sent only its guilds' events and answers
only those; DMs belong to shard 0; a key set through either process answers through the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeUser
from tests.fakes.discord.gateway import shard_of
from tests.fakes.discord.payloads import BOT_BASE
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.running_cli import LOOPBACK_CLI, RunningCli

PROCESSES = ("shard0", "shard1")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord(shards=2).start()
    yield fake
    await fake.close()


@dataclass
class People:
    alice: FakeUser
    bob: FakeUser
    # channels[n] is in a guild that Discord routes to shard n.
    channels: list[FakeChannel]


@pytest.fixture
def people(fake: FakeDiscord) -> People:
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    channels = []
    for shard in (0, 1):
        guild = fake.add_guild(f"guild {shard}", owner=alice, bot_permissions=BOT_BASE, shard=shard)
        assert shard_of(guild.id, 2) == shard
        channels.append(fake.add_channel(guild, "general"))
    return People(alice, bob, channels)


@pytest.fixture
async def bots(
    fake: FakeDiscord, people: People, fake_openai: FakeOpenAI, postgres_url: str, tmp_path: Path
) -> AsyncIterator[list[RunningCli]]:
    """Started after `people`: each READY and GUILD_CREATE is built from those guilds."""
    shared = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": postgres_url,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "DISCORD_BOT_TOKEN": fake.token,
        "DISCORD_SHARD_COUNT": "2",
        "BYOK_TEST_DISCORD_GATEWAY": fake.gateway_url,
    }
    started = []
    for shard, name in enumerate(PROCESSES):
        folder = tmp_path / name
        folder.mkdir()
        environment = {
            **shared,
            "DISCORD_SHARD_IDS": str(shard),
            # Each process has its own REST base, so the fake records who made each call.
            "BYOK_TEST_DISCORD_API": fake.api_base_for(name),
        }
        started.append(
            await RunningCli.start("run", cwd=folder, env=environment, module=LOOPBACK_CLI)
        )
    try:
        await asyncio.gather(*(bot.wait_for_output("connected to Discord as") for bot in started))
        yield started
    finally:
        codes = [await bot.stop() for bot in started]
        for bot in started:
            assert "Traceback" not in bot.written, bot.written
        assert codes == [0, 0], "a sharded process stops cleanly"


def written_by(fake: FakeDiscord, *channels: FakeChannel | int) -> set[str | None]:
    """Which processes made any call about these channels, threads or DMs (typing, messages,
    streamed edits, threads opened)."""
    ids = [c if isinstance(c, int) else c.id for c in channels]
    return {c.client for c in fake.calls for i in ids if c.path.startswith(f"/channels/{i}/")}


def answered_by(fake: FakeDiscord, interaction_id: int) -> list[str | None]:
    return [c.client for c in fake.rest("POST", f"/interactions/{interaction_id}/")]


async def set_key(
    fake: FakeDiscord, openai: FakeOpenAI, user: FakeUser, where: FakeChannel
) -> tuple[str, list[str | None]]:
    """/setkey and its modal; returns the key and which processes answered the two."""
    key = make_key()
    openai.behaviours[key] = openai_server.VALID
    opened = await fake.command(user, where, "setkey")
    await fake.wait_for(lambda: opened.modal is not None)
    submitted = await fake.submit_modal(opened, key)
    await fake.wait_for(lambda: any("saved" in text for text in submitted.texts))
    return key, answered_by(fake, opened.id) + answered_by(fake, submitted.id)


async def ask(fake: FakeDiscord, user: FakeUser, channel: FakeChannel, question: str) -> int:
    """A question, waited for until its answer is complete; returns where the answer is."""
    message_id = await fake.post_message(user, channel, question, mention_bot=True)
    # A guild question is answered in a thread that takes the question's id; a DM in place.
    where = channel.id if channel.guild_id is None else message_id
    await fake.wait_for(
        lambda: any(m["content"] == f"You asked: {question}" for m in fake.bot_messages(where)),
        within=20,
    )
    return where


@pytest.mark.usefixtures("bots")
async def test_each_process_serves_only_its_shards_guilds(
    fake: FakeDiscord, fake_openai: FakeOpenAI, people: People
) -> None:
    alice, bob, channels, gateway = people.alice, people.bob, people.channels, fake.gateway

    assert sorted(tuple(i["shard"]) for i in gateway.identifies) == [(0, 2), (1, 2)]
    for shard, channel in enumerate(channels):
        guilds = [g["id"] for g in gateway.session(shard).received("GUILD_CREATE")]
        assert guilds == [str(channel.guild_id)]
    # The application's slash commands are synced once, by the process with shard 0.
    assert [c.client for c in fake.rest("PUT", "/commands")] == ["shard0"]

    # Alice sets her key in a guild of shard 1, Bob his by the /setkey form in a DM (shard 0).
    alice_key, handled = await set_key(fake, fake_openai, alice, channels[1])
    assert handled == ["shard1", "shard1"]
    bob_key, handled = await set_key(fake, fake_openai, bob, fake.dm_channel(bob))
    assert handled == ["shard0", "shard0"]

    # Each key answers through the other process, at once: the store is shared.
    in_guild_0 = await ask(fake, alice, channels[0], "asked on shard 0")
    in_guild_1 = await ask(fake, bob, channels[1], "asked on shard 1")
    in_dm = await ask(fake, alice, fake.dm_channel(alice), "asked in a DM")
    assert fake_openai.authorizations("/chat/completions") == [
        f"Bearer {alice_key}",
        f"Bearer {bob_key}",
        f"Bearer {alice_key}",
    ]

    # Nothing reached the other process: its gateway session never carried the event.
    mention = fake.bot.mention
    asked = {
        shard: [m["content"] for m in gateway.session(shard).received("MESSAGE_CREATE")]
        for shard in (0, 1)
    }
    assert asked == {
        0: [f"{mention} asked on shard 0", f"{mention} asked in a DM"],
        1: [f"{mention} asked on shard 1"],
    }
    # So each question was answered once, wholly by the process of its shard.
    assert written_by(fake, channels[0], in_guild_0) == {"shard0"}
    assert written_by(fake, channels[1], in_guild_1) == {"shard1"}
    assert written_by(fake, in_dm) == {"shard0"}
    assert [len(fake.bot_messages(where)) for where in (in_guild_0, in_guild_1, in_dm)] == [1] * 3
    assert {c.client for c in fake.calls} == set(PROCESSES)
