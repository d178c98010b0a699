"""What a Slack member sees between the question and the first words: the assistant thread's
status where the app is an assistant, else a "Thinking…" placeholder the answer replaces."""

from __future__ import annotations

import asyncio

from adapters.slack import SlackAdapter
from adapters.slack import texts as slack_texts
from app.services import Services
from bot.domain import Member
from tests.fakes import openai_server
from tests.fakes.core import with_key
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.requests import CHANNEL, DM, SlackSender, direct_message, mention

ALICE = Member("slack", TEAM, "UALICE")


async def test_a_placeholder_shows_while_the_provider_thinks_and_the_answer_replaces_it(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.streaming = False
    key = await with_key(services, fake_openai, ALICE)
    gate = fake_openai.hold(key)
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> think hard")
    await sender.event(mention("UALICE", "think hard", ts))
    await asyncio.wait_for(fake_openai.chat_arrived.wait(), 10)
    # The provider has not answered a word yet, and the thread already says "thinking".
    await fake_slack.wait_for(lambda: bool(fake_slack.bot_replies(CHANNEL, ts)))
    (thinking,) = fake_slack.bot_replies(CHANNEL, ts)
    assert thinking["text"] == slack_texts.THINKING
    gate.set()
    await slack.wait_idle()
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["ts"] == thinking["ts"] and answer["text"] == "You asked: think hard"


async def test_an_assistant_thread_gets_a_status_and_no_placeholder(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.assistant = True
    key = await with_key(services, fake_openai, ALICE)
    gate = fake_openai.hold(key)
    thread = fake_slack.add_member_message(DM, "UALICE", "hi")
    event = {**direct_message("UALICE", "explain DNS", "1700000200.000001"), "thread_ts": thread}
    await sender.event(event)
    await asyncio.wait_for(fake_openai.chat_arrived.wait(), 10)
    await fake_slack.wait_for(lambda: bool(fake_slack.statuses))
    assert fake_slack.statuses == [(thread, slack_texts.THINKING_STATUS)]
    gate.set()
    await slack.wait_idle()
    assert slack_texts.THINKING not in [c.args.get("text") for c in fake_slack.calls]
    (answer,) = fake_slack.bot_replies(DM, thread)
    assert answer["text"] == "You asked: explain DNS"


async def test_a_dm_thread_of_an_app_that_is_no_assistant_falls_back_to_the_placeholder(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    thread = fake_slack.add_member_message(DM, "UALICE", "hi")
    for ts in ("1700000300.000001", "1700000300.000002"):
        await sender.event({**direct_message("UALICE", "again", ts), "thread_ts": thread})
        await slack.wait_idle()
    # Asked once; refused, so the next question goes straight to the placeholder.
    assert len(fake_slack.calls_to("assistant.threads.setStatus")) == 1
    assert fake_slack.statuses == []
    first_post = fake_slack.calls_to("chat.postMessage")[0]
    assert first_post.args["text"] == slack_texts.THINKING
    assert [m["text"] for m in fake_slack.bot_replies(DM, thread)] == ["You asked: again"] * 2


async def test_a_failed_turn_takes_the_placeholder_away(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE, behaviour=openai_server.NO_CREDIT)
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> anything")
    await sender.event(mention("UALICE", "anything", ts))
    await slack.wait_idle()
    assert fake_slack.bot_replies(CHANNEL, ts) == []
    assert [m["text"] for m in fake_slack.deleted] == [slack_texts.THINKING]
    assert fake_slack.calls_to("chat.postEphemeral")
