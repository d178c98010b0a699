"""The bench's members, their made-up keys, and the check that an answer used its asker's key."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from bot.domain import Member

# Members per workspace: under BYOK_KEY_TRIES_PER_WORKSPACE's default (50 per 10 minutes), so
# every member's key goes through `/setkey` with the limits an operator leaves as they are.
PER_WORKSPACE = 40
# How many of a key's last characters the provider echoes first in every answer.
KEY_TAIL = 4


class WrongKey(AssertionError):
    """An answer did not show its asker's key tail: it was asked with another key."""


def key_tail_mark(key: str) -> str:
    """What an answer asked with `key` starts with (bench/provider.py sends it)."""
    return f"[{key[-KEY_TAIL:]}] "


def bench_member(number: int) -> Member:
    return Member("bench", f"T{number // PER_WORKSPACE:03d}", f"member{number:05d}")


def make_keys(count: int) -> list[str]:
    """`count` made-up keys whose last KEY_TAIL characters differ, so a tail names one key."""
    # Imported here: a measured process reads keys, it does not make them, and its memory
    # should hold only what its approach needs.
    from tests.fakes.core import make_key

    keys: list[str] = []
    tails: set[str] = set()
    while len(keys) < count:
        key = make_key()
        if key[-KEY_TAIL:] not in tails:
            tails.add(key[-KEY_TAIL:])
            keys.append(key)
    return keys


def write_keys(path: Path, keys: Sequence[str]) -> None:
    """Only the owner can read the file: made-up keys, but shaped like real ones."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(list(keys), file)


def read_keys(path: Path) -> list[str]:
    keys = json.loads(path.read_text())
    assert isinstance(keys, list) and all(isinstance(key, str) for key in keys)
    return keys


def check_answer(first_text: str | None, key: str) -> None:
    """Raise WrongKey unless the answer's first text shows `key`'s tail."""
    expected = key_tail_mark(key)
    if first_text is None or not first_text.startswith(expected):
        shown = None if first_text is None else first_text[: len(expected)]
        raise WrongKey(f"the answer began {shown!r}, not {expected!r}")
