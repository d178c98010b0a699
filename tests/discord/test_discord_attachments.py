"""Files on Discord questions: downloaded from the (fake) CDN by the real discord.py, checked by
the core, sent to the provider as data URLs or inlined text; every file left out is named in a
DM and the question is still answered."""

from __future__ import annotations

from bot import texts
from tests.discord.conftest import Bot
from tests.fakes.discord.payloads import FakeFile
from tests.fakes.files import JPEG, PNG, data_url
from tests.fakes.openai_server import image_parts, text_of


def last_messages(bot: Bot) -> list[dict[str, object]]:
    body = bot.openai.chat_requests()[-1].body
    assert body is not None
    messages: list[dict[str, object]] = body["messages"]
    return messages


async def test_an_image_on_a_mention_reaches_the_provider_as_a_data_url(bot: Bot) -> None:
    key = await bot.give_key(bot.alice)
    photo = FakeFile("cat.png", PNG, "image/png")
    await bot.fake.post_message(
        bot.alice, bot.general, "what is this?", mention_bot=True, files=[photo]
    )
    await bot.idle()
    assert bot.fake.downloads == [photo.id]
    assert bot.openai.authorizations("/chat/completions") == [f"Bearer {key}"]
    messages = last_messages(bot)
    assert image_parts(messages) == [data_url("image/png", PNG)]
    # The provider got the bytes, never the platform's URL.
    assert bot.fake.cdn not in str(messages)
    [thread] = bot.fake.threads()
    [answer] = bot.fake.bot_messages(thread.id)
    assert answer["content"] == "You asked: what is this?"


async def test_a_text_file_is_inlined_with_its_name(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    notes = FakeFile("notes.md", b"# Plan\nship it", "text/markdown; charset=utf-8")
    await bot.fake.post_message(bot.alice, bot.general, "review", mention_bot=True, files=[notes])
    await bot.idle()
    question = text_of(last_messages(bot)[-1]["content"])
    # In a channel the question starts with the asker's name (a shared conversation).
    assert question.endswith("]: review\n\nFile `notes.md`:\n```\n# Plan\nship it\n```")


async def test_bad_files_are_named_in_one_dm_and_the_question_is_still_answered(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    limits = bot.services.settings.limits
    huge = FakeFile("huge.png", PNG, "image/png", size=limits.max_image_bytes + 1)
    files = [
        FakeFile("private.png", PNG, "image/png", forbidden=True),
        huge,
        FakeFile("fake.png", b"not an image at all", "image/png"),
        FakeFile("real-jpeg.png", JPEG, "image/png"),
        FakeFile("blob.txt", b"\x00\x01\xffbinary", "text/plain"),
        FakeFile("archive.zip", b"PK\x03\x04", "application/zip"),
    ]
    await bot.fake.post_message(bot.alice, bot.general, "look", mention_bot=True, files=files)
    await bot.idle()
    # Discord's own size for the big file was over the limit: it was never downloaded.
    assert huge.id not in bot.fake.downloads
    assert image_parts(last_messages(bot)) == [data_url("image/jpeg", JPEG)]
    expected = texts.attachments_left_out(
        [
            texts.attachment_unreadable("private.png"),
            texts.attachment_too_large("huge.png", limits.max_image_bytes),
            texts.attachment_not_an_image("fake.png"),
            texts.attachment_not_text("blob.txt"),
            texts.attachment_unsupported("archive.zip"),
        ]
    )
    assert expected in bot.fake.dms_to(bot.alice)
    [thread] = bot.fake.threads()
    assert [m["content"] for m in bot.fake.bot_messages(thread.id)] == ["You asked: look"]


async def test_ten_images_send_only_the_first_four(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    files = [FakeFile(f"p{i}.png", PNG, "image/png") for i in range(10)]
    await bot.fake.post_message(bot.alice, bot.general, "many", mention_bot=True, files=files)
    await bot.idle()
    assert len(image_parts(last_messages(bot))) == 4
    assert bot.fake.downloads == [f.id for f in files[:4]]
    assert texts.attachments_left_out([texts.too_many_images(6, 4)]) in bot.fake.dms_to(bot.alice)


async def test_an_image_on_the_message_replied_to_goes_with_the_question(bot: Bot) -> None:
    await bot.give_key(bot.alice)
    dm = bot.fake.dm_channel(bot.alice)
    photo = FakeFile("chart.png", PNG, "image/png")
    first = await bot.fake.post_message(bot.alice, dm, "here is the chart", files=[photo])
    await bot.idle()
    await bot.fake.post_message(bot.alice, dm, "what does it show?", reply_to=first)
    await bot.idle()
    assert image_parts(last_messages(bot)) == [data_url("image/png", PNG)]
    assert text_of(last_messages(bot)[-1]["content"]) == "what does it show?"


async def test_a_model_that_cannot_read_images_gets_a_dm_naming_one_that_can(bot: Bot) -> None:
    bot.openai.models = ("gpt-3.5-turbo", "gpt-4o")
    bot.openai.text_only_models = frozenset({"gpt-3.5-turbo"})
    await bot.give_key(bot.alice)
    chosen = await bot.fake.command(bot.alice, bot.general, "model", {"name": "gpt-3.5-turbo"})
    await bot.fake.wait_for(lambda: len(chosen.texts) >= 1)
    assert chosen.texts == [texts.model_chosen("gpt-3.5-turbo")], chosen.texts
    await bot.fake.post_message(
        bot.alice, bot.general, "see", mention_bot=True, files=[FakeFile("a.png", PNG)]
    )
    await bot.idle()
    await bot.fake.wait_for(
        lambda: texts.images_unsupported("gpt-3.5-turbo", "gpt-4o") in bot.fake.dms_to(bot.alice)
    )
    assert not bot.fake.threads()
