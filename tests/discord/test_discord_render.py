"""Splitting answers for Discord's 2000-character messages."""

from __future__ import annotations

import random

import pytest

from adapters.discord.render import MESSAGE_LIMIT, open_fence, split_message, thread_name
from bot.keys import mask_key
from tests.fakes.keys import disguised_examples, visible_runs_of


@pytest.mark.parametrize(
    "text",
    [
        "```" + "a" * 2500 + "\n" + "b" * 3000,
        "```python " + "x " * 1200 + "\n" + "code line\n" * 800,
        "```py\n" + "print('hi')\n" * 600 + "```\nafter the block",
        "word " * 2000,
        "x" * 9000,
    ],
)
def test_any_text_splits_into_few_pieces_within_the_limit(text: str) -> None:
    pieces = split_message(text)
    assert all(len(piece) <= MESSAGE_LIMIT for piece in pieces)
    # Progress: no more pieces than twice the minimum needed.
    assert len(pieces) <= 2 * (len(text) // MESSAGE_LIMIT + 1)
    assert all(open_fence(piece) is None for piece in pieces[:-1])


def test_a_short_fence_is_reopened_as_written() -> None:
    pieces = split_message("```python\n" + "print(1)\n" * 400)
    assert len(pieces) > 1
    assert all(piece.startswith("```python\n") for piece in pieces)
    assert all(piece.endswith("```") for piece in pieces[:-1])


@pytest.mark.parametrize("name", sorted(disguised_examples(random.Random(16))))
def test_a_thread_is_never_named_with_a_key(name: str) -> None:
    key, pasted = disguised_examples(random.Random(16))[name]
    title = thread_name(f"why does {pasted} fail?\nmore")
    assert visible_runs_of(key, title) == []
    assert title.startswith("why does ") and mask_key(key) in title
