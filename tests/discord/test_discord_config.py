"""/byok-config: Manage Server only, stored per server, and obeyed."""

from __future__ import annotations

from bot import texts as core_texts
from bot.domain import Cap, WorkspaceConfig
from tests.discord.conftest import Bot
from tests.fakes.core import make_key
from tests.fakes.discord.payloads import MANAGE_GUILD, PUBLIC_THREAD
from tests.fakes.discord.server import EPHEMERAL


async def config(bot: Bot) -> WorkspaceConfig:
    return await bot.services.store.get_workspace_config("discord", str(bot.guild.id))


async def test_refused_for_a_member_without_manage_server(bot: Bot) -> None:
    fake = bot.fake
    other = fake.add_channel(bot.guild, "other")
    record = await fake.command(
        bot.bob, bot.general, "byok-config", {"channels": f"<#{other.id}>", "answers": "in-place"}
    )
    await fake.wait_for(lambda: bool(record.texts))
    assert "Manage Server" in record.texts[-1]
    assert record.callbacks[0]["data"]["flags"] & EPHEMERAL
    assert await config(bot) == WorkspaceConfig("discord", str(bot.guild.id))


async def test_is_registered_for_admins_only_and_not_in_dms(bot: Bot) -> None:
    registered = bot.fake.commands["byok-config"]
    assert int(registered["default_member_permissions"]) == MANAGE_GUILD
    assert registered["contexts"] == [0]
    assert 1 in bot.fake.commands["setkey"]["contexts"], "/setkey works in DMs"


async def test_admin_limits_channels_and_the_bot_obeys(bot: Bot) -> None:
    fake = bot.fake
    ai = fake.add_channel(bot.guild, "ai")
    # The fake guild's channels are sent at connect; this one is known to the bot by id only.
    record = await fake.command(
        bot.alice, bot.general, "byok-config", {"channels": f"<#{ai.id}>"}, permissions=MANAGE_GUILD
    )
    await fake.wait_for(lambda: bool(record.texts))
    assert f"<#{ai.id}>" in record.texts[-1]
    assert (await config(bot)).allowed_channels == frozenset({str(ai.id)})

    await bot.give_key(bot.bob)
    await fake.post_message(bot.bob, bot.general, "am I allowed here?", mention_bot=True)
    await bot.idle()
    assert fake.dms_to(bot.bob)[-1] == core_texts.CHANNEL_NOT_ALLOWED
    assert not bot.openai.chat_requests()

    reset = await fake.command(
        bot.alice, bot.general, "byok-config", {"channels": "all"}, permissions=MANAGE_GUILD
    )
    await fake.wait_for(lambda: bool(reset.texts))
    assert (await config(bot)).allowed_channels == frozenset()


async def test_admin_sets_default_model_and_in_place_answers(bot: Bot) -> None:
    fake = bot.fake
    record = await fake.command(
        bot.alice,
        bot.general,
        "byok-config",
        {"model": "gpt-4o", "answers": "in-place"},
        permissions=MANAGE_GUILD,
    )
    await fake.wait_for(lambda: bool(record.texts))
    saved = await config(bot)
    assert saved.default_model == "gpt-4o" and saved.threaded is False

    await bot.give_key(bot.bob)
    question = await fake.post_message(bot.bob, bot.general, "where?", mention_bot=True)
    await bot.idle()
    assert not [c for c in fake.channels.values() if c.type == PUBLIC_THREAD]
    [answer] = fake.bot_messages(bot.general.id)
    assert int(answer["message_reference"]["message_id"]) == question
    [chat] = bot.openai.chat_requests()
    assert chat.body is not None and chat.body["model"] == "gpt-4o"


async def test_without_options_it_shows_the_settings(bot: Bot) -> None:
    record = await bot.fake.command(bot.alice, bot.general, "byok-config", permissions=MANAGE_GUILD)
    await bot.fake.wait_for(lambda: bool(record.texts))
    assert "every channel" in record.texts[-1]


async def test_a_thread_counts_as_its_parent_channel(bot: Bot) -> None:
    fake = bot.fake
    record = await fake.command(
        bot.alice,
        bot.general,
        "byok-config",
        {"channels": f"<#{bot.general.id}>"},
        permissions=MANAGE_GUILD,
    )
    await fake.wait_for(lambda: bool(record.texts))
    key = await bot.give_key(bot.bob)
    theirs = await fake.open_thread(bot.alice, bot.general, "alice's thread")
    await fake.post_message(bot.bob, theirs, "answer me here", mention_bot=True)
    await bot.idle()
    # Someone else's thread: answered in place, no new thread.
    [answer] = fake.bot_messages(theirs.id)
    assert answer["content"] == "You asked: answer me here"
    assert [t.id for t in fake.threads()] == [theirs.id]
    assert bot.openai.authorizations("/chat/completions") == [f"Bearer {key}"]


async def test_admin_caps_each_members_spending_in_the_server(bot: Bot) -> None:
    fake = bot.fake
    bad = await fake.command(
        bot.alice, bot.general, "byok-config", {"daily_cap": "lots"}, permissions=MANAGE_GUILD
    )
    await fake.wait_for(lambda: bool(bad.texts))
    assert "`2 usd`" in bad.texts[-1]
    assert (await config(bot)).member_caps == {}

    record = await fake.command(
        bot.alice, bot.general, "byok-config", {"daily_cap": "5 tokens"}, permissions=MANAGE_GUILD
    )
    await fake.wait_for(lambda: bool(record.texts))
    assert "daily 5 tokens" in record.texts[-1]
    assert (await config(bot)).member_caps == {"daily": Cap(5, "tokens")}

    await bot.give_key(bot.bob)
    await fake.post_message(bot.bob, bot.general, "first question", mention_bot=True)
    await bot.idle()
    calls = len(bot.openai.chat_requests())
    assert calls == 1
    await fake.post_message(bot.bob, bot.general, "second question", mention_bot=True)
    await bot.idle()
    assert len(bot.openai.chat_requests()) == calls
    assert "your admins' daily cap of 5 tokens" in fake.dms_to(bot.bob)[-1]

    cleared = await fake.command(
        bot.alice, bot.general, "byok-config", {"daily_cap": "off"}, permissions=MANAGE_GUILD
    )
    await fake.wait_for(lambda: bool(cleared.texts))
    assert (await config(bot)).member_caps == {}


async def test_a_key_given_as_the_model_is_refused_stored_nowhere_and_not_echoed(
    bot: Bot,
) -> None:
    fake = bot.fake
    key = make_key()
    record = await fake.command(
        bot.alice, bot.general, "byok-config", {"model": key}, permissions=MANAGE_GUILD
    )
    await fake.wait_for(lambda: bool(record.texts))
    assert record.texts[-1] == core_texts.CONFIG_BAD_MODEL
    assert key not in " ".join(record.texts)
    assert await config(bot) == WorkspaceConfig("discord", str(bot.guild.id))
    assert all(key not in call.raw for call in fake.calls)
