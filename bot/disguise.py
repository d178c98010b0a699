"""Text as the key finder reads it: disguises undone, every character traced to its origin.

People hide a key on purpose or by accident: zero-width characters and soft hyphens inside
it, Unicode dashes for `-`, fullwidth letters, `%2D`, or JSON escapes such as `\\u00ad` when a
payload is logged. Undoing those gives the text a matcher can read; each character of it
remembers which span of the original it came from, so a key found in the plain text can be
masked where it stands in what the member wrote.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# Invisible in every font and never part of a key. Format characters (Cf: zero-width space,
# joiners, U+2060, U+FEFF, soft hyphen, bidi marks) are dropped by category; these are the
# invisible ones of other categories.
_INVISIBLE = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u180b\u180c\u180d\u180f"  # Mongolian variation selectors
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))  # variation selectors
)
# Dashes that are not in the dash category (Pd), which is mapped as a whole.
_DASHES = frozenset("\u2212\u2043\u02d7\u2796\ufe63\uff0d\u2010\u2011")
# A percent-encoded byte, or a backslash escape as JSON and Python write them.
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[nrt\\])")
_BACKSLASH_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# Double encoding (`%252D`) needs a second round; a third covers an escape made by NFKC.
_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Traced:
    """Normalised text; character i came from original[starts[i]:ends[i]]."""

    text: str
    starts: Sequence[int]
    ends: Sequence[int]

    @classmethod
    def of(cls, text: str) -> Traced:
        return cls(text, range(len(text)), range(1, len(text) + 1))


class _Builder:
    def __init__(self, source: Traced) -> None:
        self._source = source
        self._parts: list[str] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    def copy(self, start: int, end: int) -> None:
        """Source characters [start, end) unchanged."""
        if start < end:
            self._parts.append(self._source.text[start:end])
            self._starts.extend(self._source.starts[start:end])
            self._ends.extend(self._source.ends[start:end])

    def emit(self, text: str, start: int, end: int) -> None:
        """`text` in place of source characters [start, end)."""
        self._parts.append(text)
        self._starts.extend([self._source.starts[start]] * len(text))
        self._ends.extend([self._source.ends[end - 1]] * len(text))

    def build(self) -> Traced:
        return Traced("".join(self._parts), self._starts, self._ends)


def _utf8_length(lead: int) -> int:
    if lead >> 5 == 0b110:
        return 2
    if lead >> 4 == 0b1110:
        return 3
    if lead >> 3 == 0b11110:
        return 4
    return 0


def _decode_escapes(source: Traced) -> Traced:
    text = source.text
    out = _Builder(source)
    done = 0
    escapes = list(_ESCAPE.finditer(text))
    index = 0
    while index < len(escapes):
        match = escapes[index]
        index += 1
        if match.start() < done:
            continue
        out.copy(done, match.start())
        token = match.group(0)
        end = match.end()
        if token[0] == "%":
            byte = int(token[1:], 16)
            decoded = chr(byte) if byte < 0x80 else None
            if decoded is None:
                # A multi-byte UTF-8 character, e.g. a zero-width space as %E2%80%8B.
                needed = _utf8_length(byte)
                run = [byte]
                while len(run) < needed and end + 3 <= len(text) and text[end] == "%":
                    follow = _ESCAPE.match(text, end)
                    if follow is None or follow.group(0)[0] != "%":
                        break
                    run.append(int(follow.group(0)[1:], 16))
                    end = follow.end()
                try:
                    decoded = bytes(run).decode("utf-8") if needed else None
                except UnicodeDecodeError:
                    decoded = None
                if decoded is None:
                    end = match.end()
        elif token[1] in "ux":
            decoded = chr(int(token[2:], 16))
        else:
            decoded = _BACKSLASH_ESCAPES[token[1]]
        if decoded is None:
            out.copy(match.start(), match.end())
        else:
            out.emit(decoded, match.start(), end)
        done = end
    out.copy(done, len(text))
    return out.build()


def _plain_char(char: str) -> str:
    """One character as a matcher should see it: '' for the invisible ones."""
    if char in _INVISIBLE or unicodedata.category(char) == "Cf":
        return ""
    if char in _DASHES or unicodedata.category(char) == "Pd":
        return "-"
    folded = unicodedata.normalize("NFKC", char)
    if folded == char:
        return char
    return "".join(_plain_char(c) if not c.isascii() else c for c in folded)


def _fold_unicode(source: Traced) -> Traced:
    text = source.text
    out = _Builder(source)
    done = 0
    for run in _NON_ASCII.finditer(text):
        out.copy(done, run.start())
        for offset, char in enumerate(run.group(0)):
            position = run.start() + offset
            plain = _plain_char(char)
            if plain == char:
                out.copy(position, position + 1)
            elif plain:
                out.emit(plain, position, position + 1)
        done = run.end()
    out.copy(done, len(text))
    return out.build()


def needs_undoing(text: str) -> bool:
    """False for the common text no disguise can hide in: plain ASCII with no escapes."""
    return not text.isascii() or _ESCAPE.search(text) is not None


def undisguise(text: str) -> Traced:
    """The text with every disguise undone, traced back to `text`."""
    traced = Traced.of(text)
    for _ in range(_ROUNDS):
        if not needs_undoing(traced.text):
            break
        before = traced.text
        traced = _fold_unicode(_decode_escapes(traced))
        if traced.text == before:
            break
    return traced
