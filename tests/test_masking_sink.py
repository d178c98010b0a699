"""Model output masked once, in the core, for every platform: also when a key is streamed in
pieces, and without holding back more than could still be a key."""

from __future__ import annotations

import random
import secrets
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services import Services
from bot.domain import ReplyLost
from bot.keys import MAX_KEY_LENGTH, mask_key, redact_keys
from bot.masking_sink import HOLD_LIMIT, KeyMaskingSink
from tests.fakes.chat_text import chat_message
from tests.fakes.core import RecordingSink, ask, make_key, member, with_key
from tests.fakes.keys import DISGUISES, FIXED_FORMATS, FORMATS, visible_runs_of
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
BOUNDED = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


async def stream(chunks: list[str]) -> RecordingSink:
    inner = RecordingSink()
    sink = KeyMaskingSink(inner)
    await sink.start()
    for chunk in chunks:
        await sink.append(chunk)
    await sink.finish()
    assert (inner.started, inner.finished) == (1, 1)
    return inner


def cut(text: str, points: list[int]) -> list[str]:
    edges = [0, *sorted({p % (len(text) + 1) for p in points}), len(text)]
    return [text[a:b] for a, b in pairwise(edges)]


async def test_a_key_split_anywhere_between_two_chunks_is_shown_masked() -> None:
    key = make_key()
    text = f"Sure: {key} is your key."
    for at in range(len(text) + 1):
        inner = await stream([text[:at], text[at:]])
        assert inner.text == f"Sure: {mask_key(key)} is your key.", at
        assert all(visible_runs_of(key, piece) == [] for piece in inner.appended), at


async def test_ordinary_text_is_shown_as_it_comes() -> None:
    inner = RecordingSink()
    sink = KeyMaskingSink(inner)
    await sink.append("Hello there, ")
    await sink.append("here is how: ")
    # Held only what could still begin a key: nothing above.
    assert inner.appended == ["Hello there, ", "here is how: "]
    await sink.append("ask")
    assert inner.appended[-1] == "a", "`sk` may begin a key"
    await sink.append(" me.")
    await sink.finish()
    assert inner.text == "Hello there, here is how: ask me."


async def test_what_cannot_be_one_key_any_more_is_not_held_for_ever() -> None:
    inner = RecordingSink()
    sink = KeyMaskingSink(inner)
    await sink.append("sk-")
    for _ in range(HOLD_LIMIT // 10 + 2):
        await sink.append("abcdefghij")
    assert inner.appended, "shown before the end, though it all looks like one key"
    assert sum(map(len, inner.appended)) > HOLD_LIMIT - MAX_KEY_LENGTH
    await sink.finish()


async def test_a_refused_answer_is_not_shown_again_at_finish() -> None:
    class Refusing(RecordingSink):
        async def append(self, text: str) -> None:
            raise ReplyLost

    inner = Refusing()
    sink = KeyMaskingSink(inner)
    with pytest.raises(ReplyLost):
        await sink.append("Hello there, ")
    await sink.append("sk-pro")  # held, never shown
    await sink.finish()
    assert inner.finished == 1


@BOUNDED
@given(
    form=st.sampled_from(sorted(FORMATS)),
    disguise=st.sampled_from(["none", *sorted(DISGUISES)]),
    seed=st.integers(0, 2**32 - 1),
    points=st.lists(st.integers(0, 10_000), max_size=12),
)
async def test_a_key_in_model_output_is_masked_however_it_is_chunked(
    form: str, disguise: str, seed: int, points: list[int]
) -> None:
    rng = random.Random(seed)
    key = FORMATS[form](rng)
    shown = DISGUISES[disguise](key, rng) if disguise in DISGUISES else key
    text = f"{chat_message(rng)}\nYou said {shown}. {chat_message(rng)}"
    inner = await stream(cut(text, points))
    assert inner.text == redact_keys(text)
    assert visible_runs_of(key, inner.text) == []


async def test_a_key_cut_after_a_short_piece_is_held_until_it_can_be_read() -> None:
    # Found by the property test above: the stream cut the key `\n943\t930acd0687f9ec42`
    # short, where its last piece is too short to read as random yet, and released it.
    key = "sk-or-v1-" + "ad802c943930acd0687f9ec42" + secrets.token_hex(20)[:39]
    shown = f"{key[:15]}\n{key[15:18]}\t{key[18:]}"
    text = f"You said {shown}. Thanks"
    cut_at = text.index(shown) + 36
    inner = await stream([text[:cut_at], text[cut_at:]])
    assert inner.text == redact_keys(text)
    assert visible_runs_of(key, inner.text) == []


@BOUNDED
@given(text=st.text(), points=st.lists(st.integers(0, 10_000), max_size=8))
async def test_any_text_streams_out_whole_and_in_order(text: str, points: list[int]) -> None:
    inner = await stream(cut(text, points))
    assert inner.text == redact_keys(text)


async def test_a_model_repeating_a_key_is_shown_masked_also_when_split_across_chunks(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    leaked = FIXED_FORMATS["openai-legacy-plain"](random.Random(19))
    fake_openai.reply = lambda question: f"The key in the thread was {leaked}, revoke it."
    for size in (1, 5, 16, 1000):
        fake_openai.split = (
            lambda answer, n=size: [  # type: ignore[misc]
                answer[i : i + n] for i in range(0, len(answer), n)
            ]
        )
        sink = RecordingSink()
        result = await services.core.handle_message(ask(ALICE, "what was it?"), sink)
        assert result is not None and result.failure is None
        assert sink.text == f"The key in the thread was {mask_key(leaked)}, revoke it.", size
        assert [run for p in sink.appended for run in visible_runs_of(leaked, p)] == [], size
