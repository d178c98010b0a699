"""Asking privately on Discord: /ask and the message menu "Ask byok-bot about this" answer
only the member who asked (ephemeral, streamed by edits), with that member's own key;
nothing is posted in the channel."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.discord import DiscordOptions
from adapters.discord.ask import ASK_ABOUT_MENU
from bot import texts
from tests.discord.conftest import FAST, Bot
from tests.fakes.core import make_key
from tests.fakes.discord.payloads import FakeFile
from tests.fakes.discord.records import InteractionRecord
from tests.fakes.files import PNG, data_url
from tests.fakes.openai_server import image_parts, text_of


@pytest.fixture
def options() -> DiscordOptions:
    # The thread a menu reads back is other members' text: the bot needs Message Content.
    return replace(FAST, message_content=True)


def nothing_posted(bot: Bot) -> bool:
    """No message, thread or DM from the bot anywhere: only interaction responses."""
    return (
        not [c for c in bot.fake.calls if c.method == "POST" and c.path.startswith("/channels/")]
        and not bot.fake.threads()
    )


async def answered(bot: Bot, record: InteractionRecord, text: str) -> None:
    await bot.fake.wait_for(lambda: text in record.shown)
    await bot.idle()


async def test_ask_answers_only_the_asker_with_their_own_key(bot: Bot) -> None:
    alice_key = await bot.give_key(bot.alice)
    await bot.give_key(bot.bob)
    record = await bot.fake.ask(bot.alice, bot.general, "what is a monad?")
    await answered(bot, record, "You asked: what is a monad?")
    assert record.ephemeral
    assert bot.openai.authorizations("/chat/completions") == [f"Bearer {alice_key}"]
    assert nothing_posted(bot)


async def test_ask_streams_a_long_answer_into_ephemeral_followups(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    bot.openai.reply = lambda question: " ".join(["word"] * 900)
    record = await bot.fake.ask(bot.alice, bot.general, "say a lot")
    await bot.fake.wait_for(lambda: len(record.followups) >= 1)
    await bot.idle()
    assert record.ephemeral
    assert " ".join(record.shown).split() == ["word"] * 900
    assert all(len(piece) <= 2000 for piece in record.shown)
    # Streamed: the response was edited more than once as the words came.
    assert len(record.texts) > len(record.shown)
    assert nothing_posted(bot)


async def test_ask_with_an_image_sends_it_as_a_data_url(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    record = await bot.fake.ask(
        bot.alice, bot.general, "what is this?", image=FakeFile("cat.png", PNG, "image/png")
    )
    await answered(bot, record, "You asked: what is this?")
    body = bot.openai.chat_requests()[-1].body
    assert body is not None
    assert image_parts(body["messages"]) == [data_url("image/png", PNG)]
    assert nothing_posted(bot)


async def test_ask_without_a_key_gets_the_how_to_privately(bot: Bot) -> None:
    record = await bot.fake.ask(bot.bob, bot.general, "hello?")
    await answered(bot, record, texts.HOW_TO_SET_KEY)
    assert record.ephemeral
    assert bot.openai.chat_requests() == []
    assert nothing_posted(bot)


async def test_ask_with_a_key_in_the_question_sends_nothing(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    record = await bot.fake.ask(bot.alice, bot.general, f"is this ok {make_key()}")
    await answered(bot, record, texts.KEY_IN_PRIVATE_QUESTION)
    assert bot.openai.chat_requests() == []


async def test_the_message_menu_summarises_a_thread_with_the_invokers_key(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    bob_key = await bot.give_key(bot.bob)
    fake = bot.fake
    start = await fake.post_message(bot.alice, bot.general, "shall we ship friday?")
    thread = await fake.open_thread(bot.alice, bot.general, "ship")
    thread.id = start  # a thread opened on a message has that message's id
    fake.channels[start] = thread
    await fake.gateway.dispatch("THREAD_CREATE", {**thread.payload(), "newly_created": True})
    await fake.post_message(bot.alice, thread, "tests are green")
    await fake.post_message(bot.bob, thread, "then yes, friday")
    await bot.idle()
    record = await fake.message_menu(bot.bob, bot.general, ASK_ABOUT_MENU, start)
    await bot.fake.wait_for(lambda: record.original.startswith("You asked:"))
    await bot.idle()
    assert record.ephemeral
    [chat] = bot.openai.chat_requests()
    assert chat.authorization == f"Bearer {bob_key}"
    assert chat.body is not None
    question = text_of(chat.body["messages"][-1]["content"])
    assert question == (
        "alice: shall we ship friday?\nalice: tests are green\nbob: then yes, friday\n\n"
        + texts.SUMMARY_REQUEST
    )
    assert [c for c in fake.calls if c.method == "POST" and "/messages" in c.path] == []


async def test_the_message_menu_without_a_key_gets_the_how_to(bot: Bot) -> None:
    message = await bot.fake.post_message(bot.alice, bot.general, "some message")
    await bot.idle()
    record = await bot.fake.message_menu(bot.bob, bot.general, ASK_ABOUT_MENU, message)
    await answered(bot, record, texts.HOW_TO_SET_KEY)
    assert record.ephemeral
    assert bot.openai.chat_requests() == []


async def test_ask_with_an_image_discord_will_not_serve_notes_it_and_still_answers(
    bot: Bot,
) -> None:
    await bot.give_key(bot.alice)
    image = FakeFile("secret.png", PNG, "image/png", forbidden=True)
    record = await bot.fake.ask(bot.alice, bot.general, "and this?", image=image)
    await answered(bot, record, "You asked: and this?")
    note = texts.attachments_left_out([texts.attachment_unreadable("secret.png")])
    assert record.shown == [note, "You asked: and this?"]
    assert record.ephemeral
    assert nothing_posted(bot)
