"""Mentions, threads, DMs and the leak guard, answered through the real bolt and slack_sdk."""

from __future__ import annotations

import json
import random

from adapters.slack import SlackAdapter
from adapters.slack import texts as slack_texts
from app.services import Services
from bot import texts
from bot.domain import Member, WorkspaceConfig
from bot.keys import mask_key
from tests.fakes.core import make_key, with_key
from tests.fakes.keys import disguised_examples, visible_runs_of
from tests.fakes.openai_server import VALID, FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import BOT_USER, TEAM
from tests.slack.conftest import AdapterFactory
from tests.slack.requests import (
    CHANNEL,
    DM,
    SlackSender,
    channel_message,
    direct_message,
    mention,
)

ALICE = Member("slack", TEAM, "UALICE")
BOB = Member("slack", TEAM, "UBOB")


async def test_mention_gets_a_threaded_streamed_answer_paid_by_the_asker(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> what is a monad")
    assert (await sender.event(mention("UALICE", "what is a monad", ts))).status == 200
    await slack.wait_idle()

    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {key}"]
    (start,) = fake_slack.calls_to("chat.startStream")
    assert start.args["channel"] == CHANNEL and start.args["thread_ts"] == ts
    assert start.args["recipient_user_id"] == "UALICE"
    assert start.args["recipient_team_id"] == TEAM
    assert len(fake_slack.calls_to("chat.appendStream")) >= 2
    assert len(fake_slack.calls_to("chat.stopStream")) == 1
    # "Thinking…" showed in the thread until the stream began, then went away.
    (thinking,) = fake_slack.calls_to("chat.postMessage")
    assert thinking.args["thread_ts"] == ts and thinking.args["text"] == slack_texts.THINKING
    assert fake_slack.methods().index("chat.postMessage") < fake_slack.methods().index(
        "chat.startStream"
    )
    assert [m["text"] for m in fake_slack.deleted] == [slack_texts.THINKING]
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == "You asked: what is a monad"
    assert answer["thread_ts"] == ts
    assert all(call.authorization == "Bearer xoxb-test-bot-token" for call in fake_slack.calls)
    assert key not in fake_slack.everything_received()
    # `last used` is written with the next usage batch, off the answer's path.
    await services.ledger.flush()
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.last_used_at is not None


async def test_two_members_in_one_thread_each_pay_for_their_own_turn(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    alice_key = await with_key(services, fake_openai, ALICE)
    bob_key = await with_key(services, fake_openai, BOB)
    root = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> first question")
    await sender.event(mention("UALICE", "first question", root))
    await slack.wait_idle()
    follow_up = fake_slack.add_member_message(
        CHANNEL, "UBOB", "<@UBOT> second question", thread_ts=root
    )
    await sender.event(mention("UBOB", "second question", follow_up, thread_ts=root))
    await slack.wait_idle()

    first, second = fake_openai.chat_requests()
    assert first.authorization == f"Bearer {alice_key}"
    assert second.authorization == f"Bearer {bob_key}"
    # Bob's turn read the thread: Alice's question and the bot's answer came first.
    assert second.body is not None
    assert [(m["role"], m["content"]) for m in second.body["messages"][1:]] == [
        ("user", "[UALICE]: first question"),
        ("assistant", "You asked: first question"),
        ("user", "[UBOB]: second question"),
    ]
    replies = fake_slack.calls_to("conversations.replies")
    assert [call.args["ts"] for call in replies] == [root]
    assert [c.args["thread_ts"] for c in fake_slack.calls_to("chat.startStream")] == [root, root]


async def test_member_without_a_key_gets_an_ephemeral_how_to_and_no_provider_call(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> hello")
    await sender.event(mention("UALICE", "hello", ts))
    await slack.wait_idle()
    (ephemeral,) = fake_slack.calls_to("chat.postEphemeral")
    assert ephemeral.args["user"] == "UALICE" and ephemeral.args["channel"] == CHANNEL
    assert ephemeral.args["thread_ts"] == ts
    assert ephemeral.args["text"] == texts.HOW_TO_SET_KEY
    assert fake_openai.requests == []
    assert not {"chat.postMessage", "chat.startStream"} & set(fake_slack.methods())


async def test_a_key_pasted_in_a_channel_warns_its_author_and_is_never_used(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    leaked = make_key()
    await sender.event(channel_message("UBOB", f"try this one {leaked}", "1700000099.000001"))
    # Also when the key comes with a mention: warned once, not answered.
    await sender.event(mention("UBOB", f"use {leaked}", "1700000099.000002"))
    await slack.wait_idle()
    warnings = fake_slack.calls_to("chat.postEphemeral")
    assert [w.args["user"] for w in warnings] == ["UBOB", "UBOB"]
    assert all(w.args["text"] == texts.leak_warning(False) for w in warnings)
    assert "revoke" in warnings[0].args["text"]
    assert fake_slack.calls_to("chat.delete") == []
    assert fake_openai.requests == []
    assert await services.store.get_key(BOB) is None
    assert leaked not in fake_slack.everything_received()


async def test_keys_in_disguise_in_a_channel_warn_their_author_and_are_never_used(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    # With a key of his own, a key the guard missed would be answered: sent in the prompt.
    await with_key(services, fake_openai, BOB)
    examples = disguised_examples(random.Random(11))
    for n, (_, pasted) in enumerate(examples.values()):
        await sender.event(mention("UBOB", f"right? {pasted}", f"1700000200.{n:06d}"))
    await slack.wait_idle()
    warnings = fake_slack.calls_to("chat.postEphemeral")
    assert [w.args["text"] for w in warnings] == [texts.leak_warning(False)] * len(examples)
    assert fake_openai.chat_requests() == []
    for name, (key, _) in examples.items():
        assert visible_runs_of(key, fake_slack.everything_received()) == [], name


async def test_a_key_in_disguise_in_thread_history_never_reaches_another_prompt(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    root = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> first question")
    await sender.event(mention("UALICE", "first question", root))
    await slack.wait_idle()
    # Bob's key stays in the thread: a Slack bot cannot delete it, only warn him.
    key, pasted = disguised_examples(random.Random(18))["line break in the first 20"]
    fake_slack.add_member_message(CHANNEL, "UBOB", f"use mine: {pasted}", thread_ts=root)
    follow_up = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> and now?", thread_ts=root)
    await sender.event(mention("UALICE", "and now?", follow_up, thread_ts=root))
    await slack.wait_idle()
    _, second = fake_openai.chat_requests()
    assert second.body is not None
    contents = [str(m["content"]) for m in second.body["messages"]]
    assert "use mine: sk-proj..." in "\n".join(contents), "the turn is kept, its key masked"
    assert [run for c in contents for run in visible_runs_of(key, c)] == []


async def test_a_me_message_or_a_topic_with_a_key_warns_its_author(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, BOB)
    key, pasted = disguised_examples(random.Random(12))["Unicode hyphens"]
    plain = make_key()
    me = channel_message("UBOB", f"is using {pasted} now", "1700000300.000001")
    topic = channel_message("UCAROL", f"set the channel topic: {plain}", "1700000300.000002")
    await sender.event({**me, "subtype": "me_message"})
    await sender.event({**topic, "subtype": "channel_topic", "topic": plain})
    await slack.wait_idle()
    warnings = fake_slack.calls_to("chat.postEphemeral")
    assert [(w.args["user"], w.args["text"]) for w in warnings] == [
        ("UBOB", texts.leak_warning(False)),
        ("UCAROL", texts.leak_warning(False)),
    ]
    assert fake_openai.chat_requests() == []
    assert visible_runs_of(key, fake_slack.everything_received()) == []
    assert visible_runs_of(plain, fake_slack.everything_received()) == []


async def test_a_key_in_disguise_in_a_dm_is_registered_as_issued(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    examples = list(disguised_examples(random.Random(13)).items())[:3]
    for n, (name, (key, pasted)) in enumerate(examples):
        fake_openai.behaviours[key] = VALID
        await sender.event(direct_message("UALICE", pasted, f"1700000400.{n:06d}"))
        await slack.wait_idle()
        stored = await services.store.get_key(ALICE)
        assert stored is not None, name
        assert services.vault.open(ALICE, stored.sealed) == key, name
        assert visible_runs_of(key, fake_slack.everything_received()) == [], name
    assert fake_openai.chat_requests() == []


async def test_a_key_the_model_repeats_is_posted_masked_even_split_across_chunks(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    leaked = make_key()
    fake_openai.reply = lambda question: f"You pasted {leaked} earlier; revoke it."
    fake_openai.split = lambda answer: [answer[i : i + 7] for i in range(0, len(answer), 7)]
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> what did I paste?")
    await sender.event(mention("UALICE", "what did I paste?", ts))
    await slack.wait_idle()
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == f"You pasted {mask_key(leaked)} earlier; revoke it."
    assert visible_runs_of(leaked, fake_slack.everything_received()) == []


async def test_plain_channel_chatter_is_left_alone(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    await sender.event(channel_message("UBOB", "lunch?", "1700000099.000003"))
    await slack.wait_idle()
    assert fake_slack.methods() == []
    assert fake_openai.requests == []


async def test_model_output_never_broadcasts(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.reply = lambda _: "Hey <!channel> and <!here> and <!everyone> and <@U999> & co"
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> shout")
    await sender.event(mention("UALICE", "shout", ts))
    await slack.wait_idle()
    received = fake_slack.everything_received()
    for broadcast in ("<!channel>", "<!here>", "<!everyone>", "<@U999>"):
        assert broadcast not in received
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == (
        "Hey &lt;!channel&gt; and &lt;!here&gt; and &lt;!everyone&gt; and &lt;@U999&gt; &amp; co"
    )


async def test_without_streaming_one_message_is_posted_then_updated(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.streaming = False
    await with_key(services, fake_openai, ALICE)
    for question in ("one two three four", "five six"):
        ts = fake_slack.add_member_message(CHANNEL, "UALICE", f"<@UBOT> {question}")
        await sender.event(mention("UALICE", question, ts))
        await slack.wait_idle()
    # Refused once, remembered for the workspace: the second answer doesn't try again.
    assert len(fake_slack.calls_to("chat.startStream")) == 1
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 2
    assert len(fake_slack.calls_to("chat.update")) >= 3
    answers = [m["text"] for m in fake_slack.messages[CHANNEL] if m.get("user") == BOT_USER]
    assert answers == ["You asked: one two three four", "You asked: five six"]


async def test_long_answers_are_split_under_the_limit(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    slack = await make_adapter(message_limit=40)
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
    await with_key(services, fake_openai, ALICE)
    words = " ".join(f"word{n}" for n in range(30))
    fake_openai.reply = lambda _: words + " <!here>"
    for streaming in (True, False):
        fake_slack.streaming = streaming
        ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> long")
        await sender.event(mention("UALICE", "long", ts))
        await slack.wait_idle()
        parts = [m["text"] for m in fake_slack.bot_replies(CHANNEL, ts)]
        assert len(parts) > 1
        assert all(len(part) <= 40 for part in parts)
        # Cut between words: every word intact, in order, and the broadcast still escaped.
        assert " ".join(" ".join(parts).split()) == words + " &lt;!here&gt;"
        assert all(m.get("stopped", not streaming) for m in fake_slack.thread(CHANNEL, ts)[1:])


async def test_a_dm_is_answered_directly_with_the_dm_as_context(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    first = fake_slack.add_member_message(DM, "UALICE", "hello there")
    await sender.event(direct_message("UALICE", "hello there", first))
    await slack.wait_idle()
    second = fake_slack.add_member_message(DM, "UALICE", "and again")
    await sender.event(direct_message("UALICE", "and again", second))
    await slack.wait_idle()
    posts = fake_slack.calls_to("chat.postMessage")
    assert [p.args["channel"] for p in posts] == [DM, DM]
    assert all("thread_ts" not in p.args for p in posts)
    assert fake_slack.calls_to("chat.startStream") == []
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {key}"] * 2
    last = fake_openai.chat_requests()[-1].body
    assert last is not None
    assert [m["content"] for m in last["messages"][1:]] == [
        "hello there",
        "You asked: hello there",
        "and again",
    ]


async def test_a_key_sent_in_a_dm_is_registered_and_the_home_republished(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = "valid"
    await sender.event(direct_message("UALICE", key, "1700000200.000001"))
    await slack.wait_idle()
    stored = await services.store.get_key(ALICE)
    assert stored is not None
    (confirmation,) = fake_slack.calls_to("chat.postMessage")
    assert confirmation.args["channel"] == DM and stored.masked in confirmation.args["text"]
    assert fake_slack.calls_to("views.publish")
    assert fake_openai.chat_requests() == []
    assert key not in fake_slack.everything_received()


async def test_workspace_config_applies(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    await services.store.save_workspace_config(
        WorkspaceConfig("slack", TEAM, allowed_channels=frozenset({"COTHER"}))
    )
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> hi")
    await sender.event(mention("UALICE", "hi", ts))
    await slack.wait_idle()
    (refusal,) = fake_slack.calls_to("chat.postEphemeral")
    assert refusal.args["text"] == texts.CHANNEL_NOT_ALLOWED
    assert fake_openai.requests[-1].path.endswith("/models")  # only set_key's check

    await services.store.save_workspace_config(WorkspaceConfig("slack", TEAM, threaded=False))
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> in the channel please")
    await sender.event(mention("UALICE", "in the channel please", ts))
    await slack.wait_idle()
    (post,) = fake_slack.calls_to("chat.postMessage")
    assert post.args["channel"] == CHANNEL and "thread_ts" not in post.args


async def test_a_redelivered_event_is_answered_once(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> once")
    body = json.dumps(sender.event_body(mention("UALICE", "once", ts)))
    for _ in range(2):
        assert (await sender.post(body, "application/json")).status == 200
    await slack.wait_idle()
    assert len(fake_openai.chat_requests()) == 1


async def test_a_key_edited_into_a_channel_message_is_warned_about(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    leaked = make_key()
    edit = {
        "type": "message",
        "subtype": "message_changed",
        "channel": CHANNEL,
        "channel_type": "channel",
        "hidden": True,
        "ts": "1700000300.000002",
        "message": {
            "type": "message",
            "user": "UBOB",
            "text": f"<@UBOT> oops {leaked}",
            "ts": "1700000300.000001",
            "edited": {"user": "UBOB", "ts": "1700000300.000002"},
        },
    }
    await sender.event(edit)
    await slack.wait_idle()
    (warning,) = fake_slack.calls_to("chat.postEphemeral")
    assert warning.args["user"] == "UBOB"
    assert warning.args["text"] == texts.leak_warning(False)
    assert fake_openai.requests == []


async def test_an_expired_stream_is_finished_with_chat_update(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_slack.errors["chat.appendStream"] = "message_not_in_streaming_state"
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> one two three")
    await sender.event(mention("UALICE", "one two three", ts))
    await slack.wait_idle()
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == "You asked: one two three"
    assert fake_slack.calls_to("chat.update")


async def test_updates_are_paced_by_the_minimum_interval(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    # An interval longer than the whole answer: the first words show at once, the rest
    # arrive in one update when the answer ends, whatever the number of pieces.
    slack = await make_adapter(min_update_interval=3600.0)
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
    await with_key(services, fake_openai, ALICE)
    question = "a b c d e f g h"
    for streaming in (True, False):
        fake_slack.streaming = streaming
        ts = fake_slack.add_member_message(CHANNEL, "UALICE", f"<@UBOT> {question}")
        await sender.event(mention("UALICE", question, ts))
        await slack.wait_idle()
        (answer,) = fake_slack.bot_replies(CHANNEL, ts)
        assert answer["text"] == f"You asked: {question}"
    assert len(fake_slack.calls_to("chat.appendStream")) == 1
    # Without streaming the first words replace "thinking…", the rest come in one update.
    assert len(fake_slack.calls_to("chat.update")) == 2


async def test_an_answer_slack_refuses_stops_the_call_and_is_told(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.reply = lambda question: " ".join(f"word{n}" for n in range(30))
    fake_slack.errors["chat.appendStream"] = "channel_not_found"
    fake_slack.errors["chat.update"] = "channel_not_found"
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> count")
    await sender.event(mention("UALICE", "count", ts))
    await slack.wait_idle()
    (told,) = fake_slack.calls_to("chat.postEphemeral")
    assert told.args["user"] == "UALICE" and told.args["text"] == texts.REPLY_LOST
    await services.ledger.flush()
    rows = await services.store._db.execute_fetchall(  # type: ignore[attr-defined]
        "SELECT outcome FROM usage_events"
    )
    assert [row[0] for row in rows] == ["reply_lost"]


async def test_a_rate_limited_update_is_retried_by_slacks_own_handler(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_slack.streaming = False
    fake_openai.reply = lambda question: " ".join(f"word{n}" for n in range(30))
    fake_slack.rate_limited["chat.update"] = 1
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> count")
    await sender.event(mention("UALICE", "count", ts))
    await slack.wait_idle()
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"].endswith("word29")
    assert not fake_slack.calls_to("chat.postEphemeral")


async def test_a_long_thread_gives_the_turns_just_before_the_question(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    parent = fake_slack.add_member_message(CHANNEL, "UBOB", "a long discussion")
    for n in range(450):
        fake_slack.add_member_message(CHANNEL, "UBOB", f"turn {n}", thread_ts=parent)
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> sum up", thread_ts=parent)
    await sender.event(mention("UALICE", "sum up", ts, thread_ts=parent))
    await slack.wait_idle()
    (chat,) = fake_openai.chat_requests()
    assert chat.body is not None
    contents = [m["content"] for m in chat.body["messages"]]
    assert contents[-1] == "[UALICE]: sum up"
    assert contents[-2] == "[UBOB]: turn 449", "the newest turns are kept, not the oldest"
    assert "[UBOB]: turn 0" not in contents
    assert len(fake_slack.calls_to("conversations.replies")) > 1, "paged"
