"""What the gateway makes of each streamed chunk, over the wire through the real SDK: the
shapes providers really send are read, anything else is a cut answer, never a crash."""

from __future__ import annotations

import json
import logging

import pytest

from app.services import Services
from bot import texts
from bot.ports import FailureKind
from tests.fakes.core import RecordingSink, ask, member, with_key
from tests.fakes.keys import visible_runs_of
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
QUESTION = "one two three four five"
ANSWER = f"You asked: {QUESTION}"


def event(data: object) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def chunk(choices: object, **extra: object) -> bytes:
    return event({"id": "c", "object": "chat.completion.chunk", "choices": choices, **extra})


# Chunks providers send that carry nothing for the member, or carry it in an odd but valid
# way: the answer must come through whole.
READABLE = {
    "no choices and no usage": chunk([]),
    "usage null": chunk([{"index": 0, "delta": {"content": ""}}], usage=None),
    "delta null": chunk([{"index": 0, "delta": None, "finish_reason": None}]),
    "content null": chunk([{"index": 0, "delta": {"role": "assistant", "content": None}}]),
    "no delta at all": chunk([{"index": 0}]),
    "azure's prompt filter results": chunk(
        [], prompt_filter_results=[{"prompt_index": 0, "content_filter_results": {}}]
    ),
    "a tool call delta": chunk(
        [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}}]
    ),
    "unknown fields": chunk([{"index": 0, "delta": {}, "logprobs": None, "x": [1]}], y={"z": 1}),
    "choices null": event({"id": "c", "choices": None}),
}

# Chunks no provider should send: the answer so far is kept and marked cut.
UNREADABLE = {
    "not json": b"data: {this is not json\n\n",
    "a json list": event([1, 2, 3]),
    "a json string": event("hello"),
    "a json number": event(42),
    "choices an object": chunk({"index": 0, "delta": {"content": "x"}}),
    "choices a string": chunk("abc"),
    "a choice that is a string": chunk(["abc"]),
    "content a number": chunk([{"index": 0, "delta": {"content": 7}}]),
    "content an object": chunk([{"index": 0, "delta": {"content": {"text": "x"}}}]),
    "delta a string": chunk([{"index": 0, "delta": "x"}]),
    "an error mid-stream": event({"error": {"message": "overloaded", "type": "server_error"}}),
    "an error as a string": event({"error": "overloaded"}),
    "an error event": b'event: error\ndata: {"error": {"message": "boom"}}\n\n',
    "an error event without error": b'event: error\ndata: {"message": "boom"}\n\n',
    "an object that is no chunk": event({"message": "boom", "type": "error"}),
}

# Usage that cannot be read: the answer is whole, the turn is recorded without usage.
UNREADABLE_USAGE = {
    "usage a list": [1, 2],
    "usage counts as text": {"prompt_tokens": "1", "completion_tokens": "2"},
    "usage count negative": {"prompt_tokens": -1, "completion_tokens": 2},
    "usage count missing": {"prompt_tokens": 1},
    "usage count null": {"prompt_tokens": None, "completion_tokens": None},
    "usage count a fraction": {"prompt_tokens": 1.5, "completion_tokens": 2},
    "usage count not a number": {"prompt_tokens": float("nan"), "completion_tokens": 2},
    "usage count true": {"prompt_tokens": True, "completion_tokens": 2},
}


@pytest.mark.parametrize("shape", sorted(READABLE))
async def test_odd_but_valid_chunks_leave_the_answer_whole(
    services: Services, fake_openai: FakeOpenAI, shape: str
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.events_before_third = (READABLE[shape],)
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, QUESTION), sink)
    assert turn is not None and turn.failure is None, shape
    assert sink.text == ANSWER and sink.privates == []
    usage = fake_openai.reported_usage[-1]
    assert turn.usage is not None
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


@pytest.mark.parametrize("shape", sorted(UNREADABLE))
async def test_a_chunk_of_any_wrong_shape_is_a_cut_answer_not_a_crash(
    services: Services, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.events_before_third = (UNREADABLE[shape],)
    sink = RecordingSink()
    with caplog.at_level(logging.WARNING):
        turn = await services.core.handle_message(ask(ALICE, QUESTION), sink)
    assert turn is not None and turn.failure is FailureKind.CUT, shape
    # What came before the bad chunk is shown, marked as cut; nothing after it.
    assert sink.text == "You asked: " + texts.CUT_OFF_MARK
    assert sink.privates == [texts.provider_failure(FailureKind.CUT)]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    # The next message is served as usual.
    fake_openai.events_before_third = ()
    again = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, QUESTION), again)
    assert turn is not None and turn.failure is None and again.text == ANSWER


async def test_a_bad_chunk_echoing_the_key_puts_it_in_no_log_reply_or_note(
    services: Services, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    fake_openai.events_before_third = (
        event({"message": f"bad key {key}", "type": "error"}),
        event({"error": {"message": f"Incorrect API key provided: {key}"}}),
    )
    sink = RecordingSink()
    with caplog.at_level(logging.DEBUG):
        turn = await services.core.handle_message(ask(ALICE, QUESTION), sink)
    assert turn is not None and turn.failure is FailureKind.CUT
    everything = caplog.text + sink.text + "".join(sink.privates)
    everything += "".join(str(record.exc_info) for record in caplog.records)
    assert visible_runs_of(key, everything) == []


@pytest.mark.parametrize("shape", sorted(UNREADABLE_USAGE))
async def test_usage_that_cannot_be_read_leaves_the_answer_whole_and_is_not_counted(
    services: Services, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.usage_override = UNREADABLE_USAGE[shape]
    sink = RecordingSink()
    with caplog.at_level(logging.WARNING):
        turn = await services.core.handle_message(ask(ALICE, QUESTION), sink)
    assert turn is not None and turn.failure is None, shape
    assert sink.text == ANSWER and sink.privates == []
    assert turn.usage is None
    assert "usage could not be read" in caplog.text


async def test_usage_counts_written_as_whole_floats_are_counted(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    fake_openai.usage_override = {"prompt_tokens": 12.0, "completion_tokens": 5.0}
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, QUESTION), sink)
    assert turn is not None and turn.failure is None and sink.text == ANSWER
    assert turn.usage is not None
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens) == (12, 5)
    assert isinstance(turn.usage.prompt_tokens, int)


async def test_the_request_is_the_one_chat_completions_create_sends(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    """The gateway posts its own body (no parameter transformer): same fields, same auth."""
    key = await with_key(services, fake_openai, ALICE)
    await services.core.handle_message(ask(ALICE, QUESTION), RecordingSink())
    request = fake_openai.chat_requests()[-1]
    assert request.authorization == f"Bearer {key}"
    assert request.headers["content-type"] == "application/json"
    assert request.body is not None
    assert set(request.body) == {
        "model",
        "messages",
        "max_completion_tokens",
        "stream",
        "stream_options",
    }
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert [message["role"] for message in request.body["messages"]] == ["system", "user"]
