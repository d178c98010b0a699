"""Chat turns: whose key pays, what the member is told when the provider fails."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime

import pytest

from app.services import Services
from bot import texts
from bot.conversation import RetryPolicy, build_messages, estimate_tokens
from bot.domain import HistoryTurn, Member, TurnContext
from bot.ports import FailureKind
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, make_key, member, with_key
from tests.fakes.keys import disguised_examples, visible_runs_of
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
BOB = member("bob")


@pytest.fixture
def waits(services: Services) -> list[float]:
    """Retries sleep through this list instead of the clock."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    services.core._conversation._sleep = fake_sleep
    return recorded


async def test_two_members_each_pay_with_exactly_their_own_key(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    alice_key = await with_key(services, fake_openai, ALICE)
    bob_key = await with_key(services, fake_openai, BOB)
    fake_openai.requests.clear()
    for who in (ALICE, BOB, ALICE):
        sink = RecordingSink()
        turn = await services.core.handle_message(ask(who, f"hello from {who.user}"), sink)
        assert turn is not None and turn.failure is None
        assert sink.text == f"You asked: hello from {who.user}"
        assert (sink.started, sink.finished) == (1, 1)
    assert fake_openai.authorizations("/chat/completions") == [
        f"Bearer {alice_key}",
        f"Bearer {bob_key}",
        f"Bearer {alice_key}",
    ]


async def test_answers_stream_in_pieces_and_report_usage(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, "one two three"), sink)
    assert len(sink.appended) > 1
    assert turn is not None and turn.usage is not None and turn.usage.completion_tokens > 0
    body = fake_openai.chat_requests()[-1].body
    assert body is not None and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # `last used` is written with the next usage batch, off the answer's path.
    await services.ledger.flush()
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.last_used_at is not None


async def test_member_without_a_key_gets_a_private_how_to_and_no_call(
    services: Services, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator_key = make_key()
    monkeypatch.setenv("OPENAI_API_KEY", operator_key)
    fake_openai.behaviours[operator_key] = openai_server.VALID
    await with_key(services, fake_openai, BOB)
    fake_openai.requests.clear()
    sink = RecordingSink()
    assert await services.core.handle_message(ask(ALICE, "hi"), sink) is None
    assert sink.privates == [texts.HOW_TO_SET_KEY]
    assert "/setkey" in sink.privates[0]
    assert sink.appended == [] and sink.started == 0
    assert fake_openai.requests == []


async def test_the_operator_key_is_never_sent(
    services: Services, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator_key = make_key()
    monkeypatch.setenv("OPENAI_API_KEY", operator_key)
    alice_key = await with_key(services, fake_openai, ALICE)
    await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    assert f"Bearer {operator_key}" not in fake_openai.authorizations()
    assert fake_openai.authorizations()[-1] == f"Bearer {alice_key}"


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (openai_server.NO_CREDIT, texts.provider_failure(FailureKind.NO_CREDIT)),
        (openai_server.REGION, texts.provider_failure(FailureKind.REGION)),
        (openai_server.MODEL_NOT_FOUND, texts.provider_failure(FailureKind.MODEL_NOT_FOUND)),
        (openai_server.SERVER_ERROR, texts.provider_failure(FailureKind.SERVER)),
    ],
)
async def test_each_provider_error_is_explained_privately_then_service_goes_on(
    services: Services,
    fake_openai: FakeOpenAI,
    waits: list[float],
    behaviour: str,
    expected: str,
) -> None:
    await with_key(services, fake_openai, ALICE, behaviour)
    await with_key(services, fake_openai, BOB)
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is not None
    assert sink.privates == [expected]
    assert sink.appended == []
    assert "req_fake" not in expected and "quota" not in expected
    # The bot keeps serving the next message.
    next_sink = RecordingSink()
    await services.core.handle_message(ask(BOB, "still there?"), next_sink)
    assert next_sink.text == "You asked: still there?"


async def test_non_retryable_errors_are_tried_once(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    await with_key(services, fake_openai, ALICE, openai_server.NO_CREDIT)
    await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    assert len(fake_openai.chat_requests()) == 1
    assert waits == []


async def test_server_errors_are_retried_with_bounded_backoff(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    await with_key(services, fake_openai, ALICE, openai_server.SERVER_ERROR)
    await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    assert len(fake_openai.chat_requests()) == RetryPolicy().attempts
    assert len(waits) == RetryPolicy().attempts - 1
    assert all(0 < wait <= RetryPolicy().backoff_cap for wait in waits)


async def test_a_passing_server_error_is_retried_into_an_answer(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    await with_key(services, fake_openai, ALICE, openai_server.SERVER_ERROR_ONCE)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert sink.text == "You asked: hi" and sink.privates == []


async def test_unauthorized_marks_the_key_invalid(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    fake_openai.behaviours[key] = openai_server.UNAUTHORIZED  # revoked after it was set
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert sink.privates == [texts.provider_failure(FailureKind.UNAUTHORIZED)]
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.status == "invalid"
    # The next turn does not spend a call on a key known to be bad.
    calls = len(fake_openai.requests)
    again = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), again)
    assert len(fake_openai.requests) == calls
    assert "/setkey" in again.privates[0]


async def test_rate_limit_honours_retry_after_then_answers(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    fake_openai.retry_after = "3"
    await with_key(services, fake_openai, ALICE, openai_server.RATE_LIMITED_ONCE)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    # Never sooner than asked, with a little jitter so members do not return in step.
    (wait,) = waits
    assert 3.0 <= wait <= 3.3
    assert sink.privates == [texts.RATE_LIMIT_RETRYING]
    assert sink.text == "You asked: hi"


async def test_rate_limit_gives_up_after_three_tries_naming_the_wait(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    fake_openai.retry_after = "7"
    await with_key(services, fake_openai, ALICE, openai_server.RATE_LIMITED)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert len(fake_openai.chat_requests()) == 3
    assert len(waits) == 2 and all(7.0 <= wait <= 7.7 for wait in waits)
    assert sink.privates == [
        texts.RATE_LIMIT_RETRYING,
        texts.provider_failure(FailureKind.RATE_LIMITED, retry_after=7.0),
    ]
    assert "in 7 s" in sink.privates[-1]


async def test_a_long_retry_after_is_not_waited_out(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    fake_openai.retry_after = "120"
    await with_key(services, fake_openai, ALICE, openai_server.RATE_LIMITED)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert waits == [] and len(fake_openai.chat_requests()) == 1
    assert "in 120 s" in sink.privates[-1]


@pytest.mark.parametrize("behaviour", [openai_server.CUT, openai_server.CUT_ABRUPT])
async def test_a_cut_stream_is_marked_and_never_retried(
    services: Services, fake_openai: FakeOpenAI, waits: list[float], behaviour: str
) -> None:
    fake_openai.reply = lambda q: "one two three four five six"
    await with_key(services, fake_openai, ALICE, behaviour)
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is FailureKind.CUT
    assert sink.text.startswith("one two ")
    assert sink.text.endswith(texts.CUT_OFF_MARK)
    assert "five" not in sink.text
    # A retry would bill the member twice for the text they already see.
    assert len(fake_openai.chat_requests()) == 1
    assert sink.privates == [texts.provider_failure(FailureKind.CUT)]
    assert sink.finished == 1


async def test_timeout_is_explained(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    from bot.openai_gateway import OpenAIGateway

    fake_openai.slow_seconds = 3
    slow_gateway = OpenAIGateway(base_url=fake_openai.base_url, timeout=0.3)
    services.commands._gateways["openai"] = slow_gateway
    try:
        await with_key(services, fake_openai, ALICE, openai_server.SLOW)
        sink = RecordingSink()
        turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
    finally:
        await slow_gateway.close()
    assert turn is not None and turn.failure is FailureKind.TIMEOUT
    assert sink.privates == [texts.provider_failure(FailureKind.TIMEOUT)]


async def test_history_is_sent_as_context_oldest_dropped_first(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    history = (
        HistoryTurn("user", "first question"),
        HistoryTurn("assistant", "first answer"),
        HistoryTurn("user", "second question"),
    )
    await services.core.handle_message(ask(ALICE, "third", history=history), RecordingSink())
    sent = fake_openai.chat_requests()[-1].body
    assert sent is not None
    assert [(m["role"], m["content"]) for m in sent["messages"][1:]] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
        ("user", "third"),
    ]


def test_trimming_keeps_the_newest_turns_within_budget() -> None:
    history = tuple(HistoryTurn("user", f"turn {i} " + "word " * 50) for i in range(40))
    messages = build_messages("latest", history, budget=600)
    total = sum(estimate_tokens(m.content) for m in messages)
    assert total <= 600
    assert messages[-1].content == "latest"
    kept = [m.content for m in messages[1:-1]]
    assert kept and kept[-1].startswith("turn 39")
    assert not any(c.startswith("turn 0 ") for c in kept)


def test_a_key_in_history_is_never_sent() -> None:
    key = make_key()
    messages = build_messages("q", (HistoryTurn("user", f"my key is {key}"),), budget=4000)
    assert all(key not in m.content for m in messages)


def test_keys_in_disguise_in_history_or_question_are_masked_in_the_prompt() -> None:
    examples = disguised_examples(random.Random(17))
    history = tuple(
        HistoryTurn("user", f"try mine: {pasted} ok") for _, pasted in examples.values()
    )
    _, key_asked = examples["zero-width space"]
    messages = build_messages(f"why not {key_asked}?", history, budget=8000)
    assert len(messages) == len(history) + 2
    for name, (key, _) in examples.items():
        assert [run for m in messages for run in visible_runs_of(key, m.content)] == [], name
    assert messages[1].content.startswith("try mine: sk-proj...")


async def test_a_key_pasted_in_a_channel_is_never_stored_or_sent(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.requests.clear()
    key = make_key()
    for can_delete in (True, False):
        sink = RecordingSink(can_delete=can_delete)
        await services.core.handle_message(ask(ALICE, f"@bot use {key} please"), sink)
        assert sink.delete_attempts == 1
        assert sink.privates == [texts.leak_warning(can_delete)]
        assert "revoke" in sink.privates[0]
        assert key not in sink.privates[0]
    assert fake_openai.requests == []
    stored = await services.store.get_key(ALICE)
    assert stored is not None and services.vault.open(ALICE, stored.sealed) != key


async def test_unaddressed_channel_messages_are_ignored(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.requests.clear()
    sink = RecordingSink()
    message = ask(ALICE, "just chatting")
    from dataclasses import replace

    assert await services.core.handle_message(replace(message, addressed=False), sink) is None
    assert sink.privates == [] and fake_openai.requests == []


class LosingSink(RecordingSink):
    """A platform that refuses the answer after its first words."""

    async def append(self, text: str) -> None:
        from bot.domain import ReplyLost

        if self.appended:
            raise ReplyLost
        await super().append(text)


async def test_a_reply_the_platform_refuses_stops_the_call_and_is_told(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda q: "one two three four five six"
    await with_key(services, fake_openai, ALICE)
    sink = LosingSink()
    turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.reply_lost
    assert sink.privates == [texts.REPLY_LOST]
    assert sink.finished == 1
    await services.ledger.flush()
    usage = await services.store.usage_by_model(ALICE, since=datetime(2000, 1, 1, tzinfo=UTC))
    assert [(u.prompt_tokens, u.completion_tokens, u.calls) for u in usage] == [(0, 0, 1)]
    # The member's turn is over: the next question is answered.
    again = RecordingSink()
    await services.core.handle_message(ask(ALICE, "again"), again)
    assert again.text == "one two three four five six"


async def test_a_restricted_key_is_told_so_and_not_marked_invalid(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE, openai_server.FORBIDDEN)
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is FailureKind.PERMISSION
    assert sink.privates == [texts.provider_failure(FailureKind.PERMISSION)]
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.status == "valid"


async def test_an_endless_retry_after_is_told_as_a_finite_wait(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    fake_openai.retry_after = "inf"
    await with_key(services, fake_openai, ALICE, openai_server.RATE_LIMITED)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert waits == []
    assert "in 3600 s" in sink.privates[-1]


async def test_a_failure_before_streaming_frees_the_members_turn(
    services: Services, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await with_key(services, fake_openai, ALICE)
    real_turn_context = services.store.turn_context

    async def broken_once(member: Member, *, server: str) -> TurnContext:
        monkeypatch.setattr(services.store, "turn_context", real_turn_context)
        raise RuntimeError("the database hiccuped")

    monkeypatch.setattr(services.store, "turn_context", broken_once)
    with pytest.raises(RuntimeError):
        await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    again = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi again"), again)
    assert again.privates == [] and again.text == "You asked: hi again"


async def test_a_503_with_retry_after_is_retried_no_sooner_than_asked(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    """Real time, over the wire: the second request arrives at least 2 s after the first."""
    fake_openai.retry_after = "2"
    await with_key(services, fake_openai, ALICE, openai_server.UNAVAILABLE_ONCE)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert sink.text == "You asked: hi" and sink.privates == []
    first, second = fake_openai.chat_requests()
    assert second.at - first.at >= 2.0


@pytest.mark.parametrize(
    "behaviour", [openai_server.UNAVAILABLE_ONCE, openai_server.UNAVAILABLE_ONCE_MS]
)
async def test_retry_after_on_503_is_honoured_with_jitter(
    services: Services, fake_openai: FakeOpenAI, waits: list[float], behaviour: str
) -> None:
    fake_openai.retry_after = "7"
    await with_key(services, fake_openai, ALICE, behaviour)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert sink.text == "You asked: hi"
    (wait,) = waits
    # Never sooner than asked, and spread a little so members do not return in step.
    assert 7.0 <= wait <= 8.0


async def test_a_503_asking_for_too_long_a_wait_is_told_not_waited(
    services: Services, fake_openai: FakeOpenAI, waits: list[float]
) -> None:
    fake_openai.retry_after = "600"
    await with_key(services, fake_openai, ALICE, openai_server.UNAVAILABLE_ONCE)
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is FailureKind.SERVER
    assert waits == [] and len(fake_openai.chat_requests()) == 1
    assert sink.privates == [texts.provider_failure(FailureKind.SERVER)]


async def test_a_malformed_stream_chunk_is_a_cut_answer_not_an_error(
    services: Services, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    await with_key(services, fake_openai, ALICE, openai_server.MALFORMED)
    sink = RecordingSink()
    with caplog.at_level(logging.WARNING):
        turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is FailureKind.CUT
    assert sink.text.endswith(texts.CUT_OFF_MARK)
    assert sink.privates == [texts.provider_failure(FailureKind.CUT)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "unreadable chunk" in caplog.text
