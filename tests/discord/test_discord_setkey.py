"""/setkey through a modal, DM registration, and every member command answered ephemerally."""

from __future__ import annotations

import io
import logging
import random

import pytest

from adapters.discord import texts as discord_texts
from bot import texts
from bot.domain import Member
from bot.redaction import guard_handler
from tests.discord.conftest import Bot
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.discord.server import EPHEMERAL
from tests.fakes.keys import disguised_examples, visible_runs_of


def discord_member(user_id: int) -> Member:
    return Member("discord", "", str(user_id))


async def test_setkey_modal_seals_key_and_never_sends_it(bot: Bot) -> None:
    fake = bot.fake
    key = make_key()
    bot.openai.behaviours[key] = openai_server.VALID

    opened = await fake.command(bot.alice, bot.general, "setkey")
    await fake.wait_for(lambda: opened.modal is not None)
    modal = opened.modal
    assert modal is not None and modal["components"], "answered with a modal (type 9)"
    submitted = await fake.submit_modal(opened, key)
    await fake.wait_for(lambda: bool(submitted.texts) and "saved" in submitted.texts[-1])

    stored = await bot.services.store.get_key(discord_member(bot.alice.id))
    assert stored is not None
    assert key.encode() not in stored.sealed
    assert bot.services.vault.open(discord_member(bot.alice.id), stored.sealed) == key
    # The key reached the provider only to be validated, with its owner's header.
    assert bot.openai.authorizations("/models") == [f"Bearer {key}"]
    # The deferred answer is ephemeral, and the key is in no request the bot made to Discord.
    deferred = submitted.callbacks[0]
    assert deferred["type"] == 5 and deferred["data"]["flags"] & EPHEMERAL
    assert all(key not in call.raw for call in fake.calls)
    assert key[-4:] in submitted.texts[-1] and key not in submitted.texts[-1]


async def test_key_is_in_no_log_line_even_at_debug(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Written as `byok-bot` writes logs: through a handler with its filters. (Not pytest's own
    # capture handler: it lives on across tests, which expect records untouched.)
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    guard_handler(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        key = await bot.give_key(bot.alice)
        await bot.fake.post_message(bot.alice, bot.fake.dm_channel(bot.alice), f"setkey {key}")
        await bot.idle()
    finally:
        root.removeHandler(handler)
    assert written.getvalue(), "debug logging was on"
    assert key not in written.getvalue()


async def test_setkey_modal_in_a_dm(bot: Bot) -> None:
    fake = bot.fake
    key = make_key()
    bot.openai.behaviours[key] = openai_server.VALID
    opened = await fake.command(bot.bob, fake.dm_channel(bot.bob), "setkey")
    await fake.wait_for(lambda: opened.modal is not None)
    submitted = await fake.submit_modal(opened, key)
    await fake.wait_for(lambda: bool(submitted.texts))
    assert await bot.services.store.get_key(discord_member(bot.bob.id)) is not None
    assert all(key not in call.raw for call in fake.calls)


async def test_rejected_key_is_not_stored(bot: Bot) -> None:
    fake = bot.fake
    key = make_key()  # unknown to the fake provider: 401
    opened = await fake.command(bot.alice, bot.general, "setkey")
    await fake.wait_for(lambda: opened.modal is not None)
    submitted = await fake.submit_modal(opened, key)
    await fake.wait_for(lambda: bool(submitted.texts))
    assert "rejected" in submitted.texts[-1]
    assert await bot.services.store.get_key(discord_member(bot.alice.id)) is None
    assert all(key not in call.raw for call in fake.calls)


async def test_key_alone_or_after_setkey_in_a_dm_registers_it(bot: Bot) -> None:
    fake = bot.fake
    dm = fake.dm_channel(bot.alice)
    for text in ("{key}", "setkey {key}"):
        key = make_key()
        bot.openai.behaviours[key] = openai_server.VALID
        await fake.post_message(bot.alice, dm, text.format(key=key))
        await bot.idle()
        stored = await bot.services.store.get_key(discord_member(bot.alice.id))
        assert stored is not None
        assert bot.services.vault.open(discord_member(bot.alice.id), stored.sealed) == key
        assert "saved" in fake.dms_to(bot.alice)[-1]
        # Taken as /setkey: validated with GET /models, never sent as a chat question.
        assert not bot.openai.chat_requests()
        assert all(key not in call.raw for call in fake.calls)


async def test_a_key_in_disguise_in_a_dm_is_registered_as_issued(bot: Bot) -> None:
    fake = bot.fake
    examples = list(disguised_examples(random.Random(10)).items())
    # Three each: key checks are throttled per member.
    for user, (name, (key, pasted)) in zip([bot.alice] * 3 + [bot.bob] * 3, examples, strict=True):
        bot.openai.behaviours[key] = openai_server.VALID
        await fake.post_message(user, fake.dm_channel(user), pasted)
        await bot.idle()
        stored = await bot.services.store.get_key(discord_member(user.id))
        assert stored is not None, name
        assert bot.services.vault.open(discord_member(user.id), stored.sealed) == key, name
        assert "saved" in fake.dms_to(user)[-1], name
        assert [run for call in fake.calls for run in visible_runs_of(key, call.raw)] == []
    assert not bot.openai.chat_requests()


async def test_model_with_a_key_as_its_name_does_not_repeat_it(bot: Bot) -> None:
    fake = bot.fake
    await bot.give_key(bot.alice)
    other, pasted = disguised_examples(random.Random(15))["%2D"]
    for typed in (other, pasted):
        record = await fake.command(bot.alice, bot.general, "model", {"name": typed})
        await fake.wait_for(lambda r=record: bool(r.texts))  # type: ignore[misc]
        assert record.texts[-1] == texts.MODEL_IS_A_KEY
        assert record.callbacks[0]["data"]["flags"] & EPHEMERAL
    assert [run for call in fake.calls for run in visible_runs_of(other, call.raw)] == []
    assert await bot.services.store.get_model(discord_member(bot.alice.id)) is None


async def test_member_commands_answer_ephemerally(bot: Bot) -> None:
    fake = bot.fake
    key = await bot.give_key(bot.alice)
    for name, options, expected in (
        ("mykey", None, key[-4:]),
        ("model", None, "gpt-4.1-mini"),
        ("model", {"name": "gpt-4.1-mini"}, "gpt-4.1-mini"),
        ("help", None, "/setkey"),
        ("usage", None, ""),
        ("limit", {"setting": "daily 2 usd"}, ""),
        ("removekey", None, "deleted"),
        ("forget", None, "deleted"),
    ):
        record = await fake.command(bot.alice, bot.general, name, options)
        await fake.wait_for(lambda r=record: bool(r.texts))  # type: ignore[misc]
        assert record.callbacks[0]["data"]["flags"] & EPHEMERAL, name
        assert expected in record.texts[-1], (name, record.texts)
        assert key not in record.texts[-1]
    assert await bot.services.store.get_key(discord_member(bot.alice.id)) is None


async def test_model_autocomplete_lists_the_members_own_models(bot: Bot) -> None:
    fake = bot.fake
    key = await bot.give_key(bot.alice)
    record = await fake.autocomplete(bot.alice, bot.general, "model", "name", "4")
    await fake.wait_for(lambda: record.choices is not None)
    assert [c["value"] for c in record.choices or []] == ["gpt-4.1-mini", "gpt-4o"]
    assert bot.openai.authorizations("/models")[-1] == f"Bearer {key}"

    nobody = await fake.autocomplete(bot.bob, bot.general, "model", "name", "")
    await fake.wait_for(lambda: nobody.choices is not None)
    assert nobody.choices == []


async def test_a_failing_command_is_logged_with_its_traceback_and_told_privately(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(member: Member, name: str, argument: str = "", **place: str) -> None:
        raise RuntimeError("the database went away")

    # Fault injection in our own core; discord.py and the fake Discord stay real.
    monkeypatch.setattr(bot.services.core.commands, "run", broken)
    with caplog.at_level(logging.ERROR):
        record = await bot.fake.command(bot.alice, bot.general, "mykey", None)
        await bot.fake.wait_for(lambda: bool(record.texts))
    assert record.texts[-1] == discord_texts.COMMAND_FAILED
    (logged,) = [r for r in caplog.records if "/mykey failed" in r.getMessage()]
    assert logged.exc_info is not None and "the database went away" in str(logged.exc_info[1])
