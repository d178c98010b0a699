"""Whether a string reads as a generated secret or as words: the evidence the key finder
weighs where a pattern alone cannot tell a key from `task-queue-worker-2024`."""

from __future__ import annotations

import math
import re
from itertools import pairwise

# A generated secret, or words run together (`Release-Notes-2024`, `maskTokenIds`)? Compared
# by how likely each is to produce its sequence of character kinds: a secret draws every
# character independently from 64; words run on in small letters, start with a capital or
# after a separator, and numbers run on in digits.
_SECRET = {"upper": 26 / 64, "lower": 26 / 64, "digit": 10 / 64, "sep": 2 / 64}
_WORDS = {
    "upper": {"upper": 0.35, "lower": 0.55, "digit": 0.05, "sep": 0.05},
    "lower": {"upper": 0.08, "lower": 0.80, "digit": 0.04, "sep": 0.08},
    "digit": {"upper": 0.05, "lower": 0.10, "digit": 0.70, "sep": 0.15},
    "sep": {"upper": 0.35, "lower": 0.50, "digit": 0.15, "sep": 0.001},
}
_EVIDENCE = {
    (before, after): math.log(_WORDS[before][after] / _SECRET[after])
    for before in _WORDS
    for after in _SECRET
}
# A piece of a key cut by a line break is judged on its own only when long enough to tell,
# and leniently: 16 random characters fail this about once in 1,200.
_PIECE_JUDGED_FROM = 16
_PIECE_WORD_EVIDENCE = 6.0
# Words, acronyms (`OK`, `SELECT`) and numbers up to a year; longer runs of digits are as
# likely the rest of a key.
_WORD = r"(?:[A-Z]?[a-z]+|[A-Z]+|[0-9]{1,4})"
# ... and camelCase names of words of three letters or more (`ForRisksMasks`); shorter ones
# are as often random.
_CAMEL = r"[A-Z]?[a-z]{2,}(?:[A-Z][a-z]{2,})+"
_PLAIN_WORD = re.compile(rf"{_WORD}|(?=.{{10}}){_CAMEL}")
# Shorter pieces are words by chance too often to say.
_WORDS_JUDGED_FROM = 4
_WORDS_RUN = re.compile(rf"{_WORD}(?:[-_]{_WORD})*")


_HEX_SECRET_LENGTH = 32
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_UPPER_HEX = re.compile(r"[0-9A-F]+")


def _kind(char: str) -> str:
    if char.isdigit():
        return "digit"
    if char.isupper():
        return "upper"
    return "lower" if char.islower() else "sep"


def _word_evidence(text: str) -> float:
    """Above zero when words explain the text better than random characters do."""
    kinds = [_kind(c) for c in text]
    return sum(_EVIDENCE[pair] for pair in pairwise(kinds))


def _mixed_case(text: str) -> bool:
    # Hex (git hashes, UUIDs) is random but has one case; keys never do.
    return any(c.isupper() for c in text) and any(c.islower() for c in text)


def looks_random(body: str) -> bool:
    """A generated secret mixes capitals and small letters and does not read as words.

    Random bodies of 48 characters fail this about once in 1,600 (legacy keys, without `-`
    and `_`, once in 9,000), of 20 about once in 50: real keys are long. Almost every
    identifier made of words fails it.
    """
    return _mixed_case(body) and _word_evidence(body) < 0


def looks_like_hex_secret(body: str) -> bool:
    """Hex of 32 digits or more (DeepSeek's `sk-` keys, tokens made with `token_hex`): random,
    but in one case, so only where a key starts on its own; `task-<git hash>` is everywhere."""
    return (
        len(body) >= _HEX_SECRET_LENGTH
        and (_LOWER_HEX.fullmatch(body) is not None or _UPPER_HEX.fullmatch(body) is not None)
        and any(c.isdigit() for c in body)
        and any(c.isalpha() for c in body)
    )


def piece_looks_random(piece: str) -> bool:
    if len(piece) < _PIECE_JUDGED_FROM:
        return True
    return _mixed_case(piece) and _word_evidence(piece) < _PIECE_WORD_EVIDENCE


def is_plain_word(piece: str) -> bool:
    """A word after a key (`thanks`, `Thanks`, `OK`, `2024`, `maskTokens`) ends it; more random
    characters after a line break go on with it."""
    return _PLAIN_WORD.fullmatch(piece) is not None


def is_small_word(piece: str) -> bool:
    """A word in small letters after a line break (`thanks`, `Thanks`), which a key of a fixed
    length must not take in to make up its length. Capitals (`GVYQ`) end a key as often."""
    return (
        len(piece) >= _WORDS_JUDGED_FROM
        and any(c.islower() for c in piece)
        and is_plain_word(piece)
    )


def is_words(head: str) -> bool:
    """`queue`, `code-tasks`, `Release-2024`: words, as the start of a key rarely is."""
    return len(head) >= _WORDS_JUDGED_FROM and _WORDS_RUN.fullmatch(head) is not None
