"""Asking privately on Slack: /ask and the "Summarize thread" shortcut answer only the member
who asked (one ephemeral message, or a DM when too long), paid with that member's own key;
nothing is posted in the channel."""

from __future__ import annotations

from typing import Any

from adapters.slack import SlackAdapter
from adapters.slack import texts as slack_texts
from adapters.slack.ask import SUMMARIZE_CALLBACK
from app.services import Services
from bot import texts
from bot.domain import Member
from tests.fakes.core import make_key, with_key
from tests.fakes.openai_server import FakeOpenAI, text_of
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.conftest import AdapterFactory
from tests.slack.requests import CHANNEL, SlackSender

ALICE = Member("slack", TEAM, "UALICE")
BOB = Member("slack", TEAM, "UBOB")


def ephemerals(fake: FakeSlack, user: str) -> list[str]:
    return [c.args["text"] for c in fake.calls_to("chat.postEphemeral") if c.args["user"] == user]


def nothing_public(fake: FakeSlack) -> bool:
    """No message posted, streamed or changed in any channel (a DM to the asker aside)."""
    public = [
        c
        for c in fake.calls
        if c.method in ("chat.postMessage", "chat.startStream", "chat.update")
        and not str(c.args.get("channel", "")).startswith("D")
    ]
    return public == []


async def ask(sender: SlackSender, fake: FakeSlack, user: str, text: str) -> str:
    """What Slack shows the asker at once: the text the command was acknowledged with."""
    answer = await sender.command("/ask", text, user=user, response_url=fake.response_url())
    assert answer.status == 200
    return answer.text


async def test_ask_answers_only_the_asker_with_their_own_key(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    alice_key = await with_key(services, fake_openai, ALICE)
    await with_key(services, fake_openai, BOB)
    acked = await ask(sender, fake_slack, "UALICE", "what is a monad?")
    assert acked == slack_texts.THINKING
    await slack.wait_idle()
    assert ephemerals(fake_slack, "UALICE") == ["You asked: what is a monad?"]
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {alice_key}"]
    assert nothing_public(fake_slack)
    assert fake_slack.calls_to("conversations.open") == []


async def test_ask_sends_an_answer_too_long_for_an_ephemeral_message_by_dm(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    slack = await make_adapter(message_limit=60)
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
    await with_key(services, fake_openai, ALICE)
    fake_openai.reply = lambda question: " ".join(["word"] * 40)
    await ask(sender, fake_slack, "UALICE", "say a lot")
    await slack.wait_idle()
    assert ephemerals(fake_slack, "UALICE") == []
    (opened,) = fake_slack.calls_to("conversations.open")
    assert opened.args["users"] == "UALICE"
    dm = fake_slack.messages["DALICE"]
    assert " ".join(m["text"] for m in dm).split() == ["word"] * 40
    assert all(len(m["text"]) <= 60 for m in dm)
    assert nothing_public(fake_slack)


async def test_ask_where_the_bot_cannot_post_ephemerals_answers_by_dm(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_slack.errors["chat.postEphemeral"] = "channel_not_found"
    await ask(sender, fake_slack, "UALICE", "hello")
    await slack.wait_idle()
    assert [m["text"] for m in fake_slack.messages["DALICE"]] == ["You asked: hello"]
    assert nothing_public(fake_slack)


async def test_ask_without_a_key_gets_the_how_to_privately(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    await ask(sender, fake_slack, "UBOB", "hello?")
    await slack.wait_idle()
    assert ephemerals(fake_slack, "UBOB") == [texts.HOW_TO_SET_KEY]
    assert fake_openai.chat_requests() == []
    assert nothing_public(fake_slack)


async def test_ask_with_a_key_in_it_sends_nothing_to_the_provider(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    await ask(sender, fake_slack, "UALICE", f"is {make_key()} valid?")
    await slack.wait_idle()
    assert ephemerals(fake_slack, "UALICE") == [texts.KEY_IN_PRIVATE_QUESTION]
    assert fake_openai.chat_requests() == []


def shortcut(user: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": SUMMARIZE_CALLBACK,
        "trigger_id": "trigger-summary",
        "response_url": "https://hooks.slack.test/unused",
        "user": {"id": user, "team_id": TEAM},
        "channel": {"id": CHANNEL, "name": "general"},
        "message": message,
        "message_ts": message["ts"],
    }


async def test_summarize_thread_reads_it_with_speakers_and_answers_the_invoker_privately(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    bob_key = await with_key(services, fake_openai, BOB)
    start = fake_slack.add_member_message(CHANNEL, "UALICE", "shall we ship friday?")
    fake_slack.add_member_message(CHANNEL, "UCAROL", "tests are green", thread_ts=start)
    fake_slack.add_member_message(CHANNEL, "UALICE", "then yes &amp; done", thread_ts=start)
    target = {"type": "message", "user": "UALICE", "text": "shall we ship friday?", "ts": start}
    assert (await sender.interaction(shortcut("UBOB", target))).status == 200
    await slack.wait_idle()
    [chat] = fake_openai.chat_requests()
    assert chat.authorization == f"Bearer {bob_key}"
    assert chat.body is not None
    question = text_of(chat.body["messages"][-1]["content"])
    assert question == (
        # Named as in a thread: display name, else real name, else the user id.
        "UALICE: shall we ship friday?\nUCAROL: tests are green\nUALICE: then yes & done\n\n"
        + texts.SUMMARY_REQUEST
    )
    (answer,) = ephemerals(fake_slack, "UBOB")
    assert answer.startswith("You asked: UALICE: shall we ship friday?")
    assert nothing_public(fake_slack)


async def test_summarize_thread_without_a_key_gets_the_how_to(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    start = fake_slack.add_member_message(CHANNEL, "UALICE", "a question")
    target = {"type": "message", "user": "UALICE", "text": "a question", "ts": start}
    await sender.interaction(shortcut("UBOB", target))
    await slack.wait_idle()
    assert ephemerals(fake_slack, "UBOB") == [texts.HOW_TO_SET_KEY]
    assert fake_openai.chat_requests() == []


async def test_ask_without_a_question_explains_itself(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    assert await ask(sender, fake_slack, "UALICE", "  ") == slack_texts.ASK_USAGE
    await slack.wait_idle()
    assert fake_openai.requests == []
    assert nothing_public(fake_slack)
