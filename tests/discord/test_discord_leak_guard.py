"""A key pasted in a server channel: deleted when the bot may, the author warned by DM."""

from __future__ import annotations

import random

import pytest

from adapters.discord import DiscordOptions
from bot.domain import Member
from tests.discord.conftest import FAST, Bot
from tests.fakes.core import make_key
from tests.fakes.discord.payloads import BOT_BASE
from tests.fakes.keys import disguised_examples, visible_runs_of


def assert_key_went_nowhere(bot: Bot, key: str) -> None:
    assert all(key not in call.raw for call in bot.fake.calls)
    assert not any(key in (r.authorization or "") for r in bot.openai.requests)
    assert not bot.openai.chat_requests()


async def test_key_in_a_channel_is_deleted_and_the_author_warned(bot: Bot) -> None:
    fake = bot.fake
    key = make_key()
    message = await fake.post_message(
        bot.alice, bot.general, f"is this right? {key}", mention_bot=True
    )
    await bot.idle()
    assert message in fake.deleted
    [warning] = fake.dms_to(bot.alice)
    assert "revoke" in warning and "I deleted your message" in warning
    assert await bot.services.store.get_key(Member("discord", "", str(bot.alice.id))) is None
    assert not fake.threads()
    assert_key_went_nowhere(bot, key)


async def test_without_manage_messages_the_dm_says_it_could_not_delete(bot: Bot) -> None:
    fake = bot.fake
    bot.guild.bot_permissions = BOT_BASE  # no Manage Messages
    key = make_key()
    message = await fake.post_message(bot.alice, bot.general, key, mention_bot=True)
    await bot.idle()
    assert fake.rest("DELETE", f"/messages/{message}"), "the bot tried"
    assert message not in fake.deleted
    [warning] = fake.dms_to(bot.alice)
    assert "revoke" in warning and "couldn't delete" in warning
    assert_key_went_nowhere(bot, key)


async def test_leak_with_closed_dms_is_told_in_the_channel_without_the_key(bot: Bot) -> None:
    fake = bot.fake
    carol = fake.add_user("carol", dms_open=False)
    key = make_key()
    message = await fake.post_message(carol, bot.general, f"key: {key}", mention_bot=True)
    await bot.idle()
    assert message in fake.deleted
    notices = [
        m
        for m in fake.messages.values()
        if int(m["channel_id"]) == bot.general.id
        and int(m["author"]["id"]) == fake.bot.id
        and str(carol.id) in m["content"]
    ]
    assert len(notices) == 1
    assert not notices[0].get("message_reference"), "no reply to the deleted message"
    assert "key" not in notices[0]["content"].lower()
    assert int(notices[0]["id"]) in fake.deleted, "the notice is deleted after its lifetime"
    assert_key_went_nowhere(bot, key)


async def test_default_intents_cannot_see_unmentioned_messages(bot: Bot) -> None:
    fake = bot.fake
    assert not fake.gateway.identifies[0]["intents"] & (1 << 15)
    message = await fake.post_message(bot.alice, bot.general, make_key())
    await bot.idle()
    assert message not in fake.deleted, "without the intent Discord sends no text to guard"


class TestWithMessageContent:
    @pytest.fixture
    def options(self) -> DiscordOptions:
        return DiscordOptions(message_content=True, timing=FAST.timing, guild_ready_timeout=0.05)

    async def test_unmentioned_key_is_deleted(self, bot: Bot) -> None:
        fake = bot.fake
        assert fake.gateway.identifies[0]["intents"] & (1 << 15)
        key = make_key()
        message = await fake.post_message(bot.alice, bot.general, f"here: {key}")
        await bot.idle()
        assert message in fake.deleted
        assert "revoke" in fake.dms_to(bot.alice)[-1]
        assert_key_went_nowhere(bot, key)

    async def test_ordinary_unmentioned_messages_are_ignored(self, bot: Bot) -> None:
        await bot.give_key(bot.alice)
        await bot.fake.post_message(bot.alice, bot.general, "just chatting")
        await bot.idle()
        assert not bot.openai.chat_requests()
        assert not bot.fake.threads()

    async def test_a_key_added_by_an_edit_is_deleted_and_never_answered(self, bot: Bot) -> None:
        fake = bot.fake
        await bot.give_key(bot.alice)
        message = await fake.post_message(bot.alice, bot.general, "harmless")
        await bot.idle()
        key = make_key()
        await fake.edit_message(message, f"harmless {key}")
        await bot.idle()
        assert message in fake.deleted
        assert "revoke" in fake.dms_to(bot.alice)[-1]
        assert_key_went_nowhere(bot, key)

    async def test_an_edited_mention_is_not_answered_again(self, bot: Bot) -> None:
        fake = bot.fake
        await bot.give_key(bot.alice)
        message = await fake.post_message(bot.alice, bot.general, "question", mention_bot=True)
        await bot.idle()
        await fake.edit_message(message, f"{fake.bot.mention} question, edited")
        await bot.idle()
        assert len(bot.openai.chat_requests()) == 1

    async def test_key_in_a_thread_follow_up_is_guarded_too(self, bot: Bot) -> None:
        fake = bot.fake
        await bot.give_key(bot.alice)
        await fake.post_message(bot.alice, bot.general, "hello", mention_bot=True)
        await bot.idle()
        [thread] = fake.threads()
        key = make_key()
        chats_before = len(bot.openai.chat_requests())
        message = await fake.post_message(bot.bob, thread, f"try mine: {key}")
        await bot.idle()
        assert message in fake.deleted
        assert "revoke" in fake.dms_to(bot.bob)[-1]
        assert len(bot.openai.chat_requests()) == chats_before
        assert all(key not in call.raw for call in fake.calls)


async def test_keys_in_disguise_in_a_channel_are_deleted_and_never_sent(bot: Bot) -> None:
    fake = bot.fake
    # With a key of her own, a key the guard missed would be answered: sent to the provider
    # in the prompt, and named in a thread.
    await bot.give_key(bot.alice)
    examples = disguised_examples(random.Random(9))
    posted = {
        name: await fake.post_message(bot.alice, bot.general, f"right? {pasted}", mention_bot=True)
        for name, (_, pasted) in examples.items()
    }
    await bot.idle()
    assert [name for name, message in posted.items() if message not in fake.deleted] == []
    assert sum("revoke" in dm for dm in fake.dms_to(bot.alice)) == len(examples)
    assert not bot.openai.chat_requests()
    assert not fake.threads()
    for name, (key, _) in examples.items():
        assert [run for call in fake.calls for run in visible_runs_of(key, call.raw)] == [], name
        assert not any(key in (r.authorization or "") for r in bot.openai.requests)
