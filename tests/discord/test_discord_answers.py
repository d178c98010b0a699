"""Mentions answered in threads, streamed with throttled edits, each turn on its writer's key."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from adapters.discord import DiscordOptions
from adapters.discord.render import open_fence
from bot.keys import mask_key
from tests.discord.conftest import FAST, Bot
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.discord.payloads import BOT_BASE, PUBLIC_THREAD
from tests.fakes.keys import visible_runs_of


def pings_nobody(body: dict[str, Any]) -> bool:
    mentions = body.get("allowed_mentions")
    return (
        mentions is not None
        and mentions["parse"] == []
        and not mentions.get("users")
        and not mentions.get("roles")
        and not mentions.get("replied_user")
    )


def sent_bodies(bot: Bot) -> list[dict[str, Any]]:
    """Every message the bot created or edited in a channel, thread or DM."""
    return [
        call.body
        for call in bot.fake.calls
        if call.path.startswith("/channels/")
        and (
            (call.method == "POST" and call.path.endswith("/messages"))
            or (call.method == "PATCH" and "/messages/" in call.path)
        )
    ]


async def test_mention_opens_a_thread_and_streams_with_the_askers_key(bot: Bot) -> None:
    fake = bot.fake
    key = await bot.give_key(bot.alice)
    question_id = await fake.post_message(
        bot.alice, bot.general, "what is a monad?\nexplain", mention_bot=True
    )
    await bot.idle()

    [thread] = fake.threads()
    assert thread.id == question_id and thread.parent_id == bot.general.id
    assert thread.name == "what is a monad?"
    assert fake.rest("POST", f"/channels/{bot.general.id}/typing"), "typing while waiting"
    [answer] = fake.bot_messages(thread.id)
    assert answer["content"] == "You asked: what is a monad?\nexplain"
    # Streamed: the first words were posted, then edited in as they arrived.
    assert fake.rest("PATCH", f"/channels/{thread.id}/messages/{answer['id']}")
    assert bot.openai.authorizations("/chat/completions") == [f"Bearer {key}"]
    assert all(pings_nobody(body) for body in sent_bodies(bot))


async def test_two_members_in_one_thread_each_pay_with_their_own_key(bot: Bot) -> None:
    fake = bot.fake
    alice_key = await bot.give_key(bot.alice)
    bob_key = await bot.give_key(bot.bob)
    await fake.post_message(bot.alice, bot.general, "first question", mention_bot=True)
    await bot.idle()
    [thread] = fake.threads()

    # Without the Message Content intent, follow-ups reach the bot only when they mention it.
    await fake.post_message(bot.bob, thread, "second question", mention_bot=True)
    await bot.idle()
    await fake.post_message(bot.alice, thread, "third question", mention_bot=True)
    await bot.idle()

    chats = bot.openai.chat_requests()
    assert [c.authorization for c in chats] == [
        f"Bearer {alice_key}",
        f"Bearer {bob_key}",
        f"Bearer {alice_key}",
    ]
    # Context is the thread's history: the question that opened it, then the thread.
    assert chats[1].body is not None and chats[2].body is not None
    roles = [(m["role"], m["content"]) for m in chats[2].body["messages"][1:]]
    assert roles == [
        ("user", "[alice]: first question"),
        ("assistant", "You asked: first question"),
        ("user", "[bob]: second question"),
        ("assistant", "You asked: second question"),
        ("user", "[alice]: third question"),
    ]
    assert len(fake.bot_messages(thread.id)) == 3


async def test_failed_turn_is_told_privately_and_leaves_no_thread(bot: Bot) -> None:
    fake = bot.fake
    key = await bot.give_key(bot.alice)
    bot.openai.behaviours[key] = openai_server.NO_CREDIT
    await fake.post_message(bot.alice, bot.general, "anything", mention_bot=True)
    await bot.idle()
    assert "out of credit" in fake.dms_to(bot.alice)[-1]
    assert not fake.threads() and not fake.bot_messages(bot.general.id)
    assert fake.rest("POST", f"/channels/{bot.general.id}/typing")


async def test_member_without_a_key_gets_the_how_to_by_dm(bot: Bot) -> None:
    fake = bot.fake
    await fake.post_message(bot.bob, bot.general, "hello?", mention_bot=True)
    await bot.idle()
    [how_to] = fake.dms_to(bot.bob)
    assert "/setkey" in how_to
    assert not fake.threads() and not fake.bot_messages(bot.general.id)
    assert not bot.openai.requests


async def test_closed_dms_get_a_short_channel_notice_that_is_deleted(bot: Bot) -> None:
    fake = bot.fake
    carol = fake.add_user("carol", dms_open=False)
    await fake.post_message(carol, bot.general, "hello?", mention_bot=True)
    await fake.wait_for(lambda: bool(fake.rest("POST", f"/channels/{bot.general.id}/messages")))
    [notice] = [c.body for c in fake.rest("POST", f"/channels/{bot.general.id}/messages")]
    assert "direct message" in notice["content"]
    assert "key" not in notice["content"].lower() and "sk-" not in notice["content"]
    assert pings_nobody(notice)
    await bot.idle()
    # Deleted after the notice lifetime (60 s in production, tiny here).
    assert not fake.bot_messages(bot.general.id)
    assert fake.rest("DELETE", f"/channels/{bot.general.id}/messages/")


async def test_long_answer_is_split_with_code_fences_intact(bot: Bot) -> None:
    fake = bot.fake
    code = "\n".join(f"    print('line {n}')  # {'x' * 40}" for n in range(80))
    answer = "Here is the program:\n\n```python\n" + code + "\n```\n\nThat is all. " * 1
    bot.openai.reply = lambda question: answer
    await bot.give_key(bot.alice)
    await fake.post_message(bot.alice, bot.general, "write a long program", mention_bot=True)
    await bot.idle()

    [thread] = fake.threads()
    pieces = [m["content"] for m in fake.bot_messages(thread.id)]
    assert len(pieces) >= 3
    assert all(len(p) <= 2000 for p in pieces)
    assert all(open_fence(p) is None for p in pieces), "every piece closes its code block"
    assert all(p.startswith("```python") for p in pieces[1:])
    rejoined = "".join(line for p in pieces for line in p.splitlines() if "print(" in line)
    assert rejoined == "".join(code.splitlines())


async def test_everyone_in_model_output_does_not_ping(bot: Bot) -> None:
    fake = bot.fake
    bot.openai.reply = lambda question: "@everyone @here <@&123> look at this"
    await bot.give_key(bot.alice)
    await fake.post_message(bot.alice, bot.general, "say it", mention_bot=True)
    await bot.idle()
    [thread] = fake.threads()
    [message] = fake.bot_messages(thread.id)
    assert "@everyone" in message["content"]
    bodies = sent_bodies(bot)
    assert bodies and all(pings_nobody(body) for body in bodies)


class TestThrottle:
    @pytest.fixture
    def options(self) -> DiscordOptions:
        # With a long interval only the first post and the final edit happen.
        return replace(FAST, timing=replace(FAST.timing, edit_interval=3600.0))

    async def test_edits_are_throttled(self, bot: Bot) -> None:
        fake = bot.fake
        bot.openai.reply = lambda question: " ".join(f"word{n}" for n in range(40))
        await bot.give_key(bot.alice)
        await fake.post_message(bot.alice, bot.general, "count", mention_bot=True)
        await bot.idle()
        [thread] = fake.threads()
        [message] = fake.bot_messages(thread.id)
        assert message["content"].endswith("word39")
        edits = fake.rest("PATCH", f"/channels/{thread.id}/messages/")
        assert len(edits) == 1, "40 chunks, one edit: the final text"


class TestStreamingPace:
    """A clock that moves a quarter second per look: an edit roughly every fourth chunk."""

    @pytest.fixture
    def options(self) -> DiscordOptions:
        ticks = iter(range(10**6))
        return replace(
            FAST, timing=replace(FAST.timing, edit_interval=1.0, clock=lambda: next(ticks) / 4)
        )

    async def test_edits_arrive_while_streaming_at_most_once_a_second(self, bot: Bot) -> None:
        fake = bot.fake
        bot.openai.reply = lambda question: " ".join(f"word{n}" for n in range(40))
        await bot.give_key(bot.alice)
        await fake.post_message(bot.alice, bot.general, "count", mention_bot=True)
        await bot.idle()
        [thread] = fake.threads()
        edits = fake.rest("PATCH", f"/channels/{thread.id}/messages/")
        streamed = [call.body["content"] for call in edits]
        assert 3 <= len(edits) <= 40 // 2, len(edits)
        # Each edit shows more of the answer than the one before.
        assert all(len(a) < len(b) for a, b in itertools.pairwise(streamed))
        assert streamed[-1].endswith("word39")


async def test_an_answer_that_starts_with_whitespace_is_shown(bot: Bot) -> None:
    fake = bot.fake
    bot.openai.reply = lambda question: " \n hello world"
    await bot.give_key(bot.alice)
    await fake.post_message(bot.alice, bot.general, "hi", mention_bot=True)
    await bot.idle()
    [thread] = fake.threads()
    [message] = fake.bot_messages(thread.id)
    assert message["content"].strip() == "hello world"
    assert not fake.dms_to(bot.alice)


async def test_in_a_dm_the_answer_is_in_place_with_dm_history(bot: Bot) -> None:
    fake = bot.fake
    key = await bot.give_key(bot.alice)
    dm = fake.dm_channel(bot.alice)
    await fake.post_message(bot.alice, dm, "hello there")
    await bot.idle()
    await fake.post_message(bot.alice, dm, "and again")
    await bot.idle()
    assert not fake.threads()
    contents = [m["content"] for m in fake.bot_messages(dm.id)]
    assert contents == ["You asked: hello there", "You asked: and again"]
    last = bot.openai.chat_requests()[-1]
    assert last.authorization == f"Bearer {key}"
    assert last.body is not None
    assert [m["content"] for m in last.body["messages"][1:]] == [
        "hello there",
        "You asked: hello there",
        "and again",
    ]


async def test_without_thread_permission_the_answer_is_in_place(bot: Bot) -> None:
    fake = bot.fake
    bot.guild.bot_permissions = BOT_BASE & ~(1 << 35)
    await bot.give_key(bot.alice)
    question = await fake.post_message(bot.alice, bot.general, "hi", mention_bot=True)
    await bot.idle()
    assert not [c for c in fake.channels.values() if c.type == PUBLIC_THREAD]
    [answer] = fake.bot_messages(bot.general.id)
    assert answer["content"] == "You asked: hi"
    assert int(answer["message_reference"]["message_id"]) == question
    assert all(pings_nobody(body) for body in sent_bodies(bot))


class TestWithMessageContent:
    @pytest.fixture
    def options(self) -> DiscordOptions:
        return DiscordOptions(message_content=True, timing=FAST.timing, guild_ready_timeout=0.05)

    async def test_anyone_in_the_bots_thread_is_answered_without_a_mention(self, bot: Bot) -> None:
        fake = bot.fake
        alice_key = await bot.give_key(bot.alice)
        bob_key = await bot.give_key(bot.bob)
        await fake.post_message(bot.alice, bot.general, "first", mention_bot=True)
        await bot.idle()
        [thread] = fake.threads()
        await fake.post_message(bot.bob, thread, "second")
        await bot.idle()
        # Unrelated chatter in the channel itself is not addressed to the bot.
        await fake.post_message(bot.bob, bot.general, "lunch?")
        await bot.idle()
        assert [c.authorization for c in bot.openai.chat_requests()] == [
            f"Bearer {alice_key}",
            f"Bearer {bob_key}",
        ]
        assert [m["content"] for m in fake.bot_messages(thread.id)][-1] == "You asked: second"


async def test_an_answer_discord_refuses_stops_the_call_and_is_told_by_dm(bot: Bot) -> None:
    from bot import texts as core_texts

    fake = bot.fake
    bot.openai.reply = lambda question: " ".join(f"word{n}" for n in range(40))
    await bot.give_key(bot.alice)
    fake.refuse_edits = True
    await fake.post_message(bot.alice, bot.general, "count", mention_bot=True)
    await bot.idle()
    [thread] = fake.threads()
    [message] = fake.bot_messages(thread.id)
    assert not message["content"].endswith("word39"), "the rest was never shown"
    assert fake.dms_to(bot.alice)[-1] == core_texts.REPLY_LOST
    await bot.services.ledger.flush()
    outcomes = await bot.services.store._db.execute_fetchall(  # type: ignore[attr-defined]
        "SELECT outcome FROM usage_events"
    )
    assert [row[0] for row in outcomes] == ["reply_lost"]


async def test_a_key_the_model_repeats_is_posted_masked_even_split_across_chunks(
    bot: Bot,
) -> None:
    fake = bot.fake
    await bot.give_key(bot.alice)
    leaked = make_key()
    bot.openai.reply = lambda question: f"You pasted {leaked} earlier; revoke it."
    bot.openai.split = lambda answer: [answer[i : i + 7] for i in range(0, len(answer), 7)]
    await fake.post_message(bot.alice, bot.general, "what did I paste?", mention_bot=True)
    await bot.idle()
    [thread] = fake.threads()
    [answer] = fake.bot_messages(thread.id)
    assert answer["content"] == f"You pasted {mask_key(leaked)} earlier; revoke it."
    assert [run for call in fake.calls for run in visible_runs_of(leaked, call.raw)] == []
