"""A burst of keys through Discord's /setkey modal gets five checks, then a private wait."""

from __future__ import annotations

from tests.discord.conftest import Bot
from tests.fakes.core import make_key
from tests.fakes.discord.server import EPHEMERAL


async def submit_in_modal(bot: Bot, key: str) -> str:
    opened = await bot.fake.command(bot.alice, bot.general, "setkey")
    await bot.fake.wait_for(lambda: opened.modal is not None)
    submitted = await bot.fake.submit_modal(opened, key)
    await bot.fake.wait_for(lambda: bool(submitted.texts))
    assert submitted.callbacks[0]["data"]["flags"] & EPHEMERAL
    return submitted.texts[-1]


async def test_a_burst_of_keys_in_the_modal_is_refused_after_five(bot: Bot) -> None:
    answers = [await submit_in_modal(bot, make_key()) for _ in range(6)]
    assert all("rejected" in answer for answer in answers[:5])
    assert answers[5].startswith("Too many tries")
    assert len(bot.openai.authorizations("/models")) == 5
