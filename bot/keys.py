"""The one key finder, how a key typed for /setkey is normalised, and how a key is shown.

Every place that must not let a key through asks here: the leak guard, DM registration, the
log filter, prompts, thread names, echoes of member input and model output. The finder reads
text with its disguises undone (bot/disguise.py), joins the pieces of a key broken by spaces
or line breaks, and finds keys glued to a word or after an escaped `\\n`. What it reports is
the key as its provider issued it, and where it stands in the original text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.disguise import Traced, needs_undoing, undisguise
from bot.key_formats import PREFIX_WORDS
from bot.key_reader import FoundKey, KeyReader

MAX_KEY_LENGTH = 512
MASK_HEAD = 7
MASK_TAIL = 4
ADMIN_KEY_PREFIX = "sk-admin-"

# Every key starts with `sk-` or `gsk_`; in plain ASCII text without escapes no disguise can
# hide that, so text without it is done with one C-speed search (logs pass here every record).
_MAYBE_PREFIX = re.compile(r"s\s*k\s*[-_]")
# An escape cut off at the end of text still growing: the next chunk may finish it.
_CUT_ESCAPE = re.compile(
    r"(?:%[89A-Fa-f][0-9A-Fa-f]){0,3}(?:%[0-9A-Fa-f]?|\\(?:u[0-9A-Fa-f]{0,3}|x[0-9A-Fa-f]?)?)?$"
)


# The start of a key's prefix cut off at the end of growing text (spaces may fall inside it):
# the next chunk may complete it, so it is held back, as the KeyReader would.
_PARTIAL_PREFIXES = frozenset(
    word[:length] for word in PREFIX_WORDS for length in range(1, len(word))
)
_LONGEST_PARTIAL = max(len(partial) for partial in _PARTIAL_PREFIXES)
_PARTIAL_ENDS = frozenset(partial[-1] for partial in _PARTIAL_PREFIXES)
# The longest escape _CUT_ESCAPE can match (three `%XX` and a `\\uXXX`), and some room.
_CUT_ESCAPE_REACH = 20


def _partial_prefix_start(text: str) -> int:
    """Where a key prefix cut off at the end of `text` begins; len(text) when there is none.
    Only the last few characters that are not whitespace are read, so a chunk costs the same
    whatever its length."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] not in _PARTIAL_ENDS:
        return len(text)  # most chunks: a word or a mark that no key prefix ends with
    tail: list[int] = []  # positions of the last non-whitespace characters, last first
    at = len(text) - 1
    while at >= 0 and len(tail) < _LONGEST_PARTIAL:
        if not text[at].isspace():
            tail.append(at)
        at -= 1
    for count in range(len(tail), 0, -1):
        # The longest partial that fits starts earliest: that is where holding begins.
        if "".join(text[i] for i in reversed(tail[:count])) in _PARTIAL_PREFIXES:
            return tail[count - 1]
    return len(text)


# The key patterns of the providers the operator lists (bot/providers.py), learnt once at
# start: the finder knows them on top of the formats in bot/key_formats.py.
_listed_patterns: tuple[re.Pattern[str], ...] = ()
# What a key of a listed pattern could still grow from at the end of a growing text.
_TRAILING_KEY_CHARS = re.compile(r"[A-Za-z0-9_-]+$")


def learn_key_patterns(patterns: Iterable[re.Pattern[str]]) -> None:
    """Find keys of these patterns too, everywhere the finder is asked (the composition root
    calls it with every listed provider's pattern; patterns too broad were refused there)."""
    global _listed_patterns
    known = {pattern.pattern for pattern in _listed_patterns}
    added = tuple(pattern for pattern in patterns if pattern.pattern not in known)
    _listed_patterns = (*_listed_patterns, *added)


def _listed_keys(text: str, traced: Traced | None, *, growing: bool) -> tuple[list[FoundKey], int]:
    """Keys of the listed providers' patterns, and where a growing text stops being decided."""
    plain = traced if traced is not None else Traced.of(text)
    found: list[FoundKey] = []
    undecided = len(text)
    if growing:
        tail = _TRAILING_KEY_CHARS.search(plain.text)
        if tail is not None:
            undecided = plain.starts[tail.start()]
    for pattern in _listed_patterns:
        for match in pattern.finditer(plain.text):
            if match.end() == match.start():
                continue
            start, end = plain.starts[match.start()], plain.ends[match.end() - 1]
            if growing and end >= undecided:
                continue
            found.append(FoundKey(match.group(0), start, end))
    return found, undecided


def _merged(first: list[FoundKey], second: list[FoundKey]) -> list[FoundKey]:
    """Both lists in order, a key overlapping one already taken left out."""
    merged: list[FoundKey] = []
    for key in sorted([*first, *second], key=lambda k: (k.start, -k.end)):
        if merged and key.start < merged[-1].end:
            continue
        merged.append(key)
    return merged


def _read(text: str, *, growing: bool) -> tuple[list[FoundKey], int]:
    if _listed_patterns:
        traced = undisguise(text) if needs_undoing(text) else None
        listed, listed_undecided = _listed_keys(text, traced, growing=growing)
        found, undecided = _read_known(text, growing=growing)
        return _merged(found, listed), min(undecided, listed_undecided)
    return _read_known(text, growing=growing)


def _read_known(text: str, *, growing: bool) -> tuple[list[FoundKey], int]:
    if not needs_undoing(text) and _MAYBE_PREFIX.search(text) is None:
        # Plain text with no key prefix, the common case for every chunk of an answer: no
        # reader is built, so masking streamed output costs next to nothing per chunk.
        return [], _partial_prefix_start(text) if growing else len(text)
    traced = undisguise(text) if needs_undoing(text) else Traced.of(text)
    if not growing and _MAYBE_PREFIX.search(traced.text) is None:
        return [], len(text)
    reader = KeyReader(text, traced, growing=growing)
    return reader.keys(), reader.undecided


def scan_keys(text: str) -> list[FoundKey]:
    """Every key in `text`, in order, each with its span in `text`."""
    return _read(text, growing=False)[0]


def scan_stream(text: str, *, shown: str = "", ended: bool = False) -> tuple[list[FoundKey], int]:
    """For text that may still grow (a streamed answer): the keys decided so far, and the
    position from which the text is undecided (it may yet be, or lengthen, a key). Once the
    stream has `ended`, everything is decided.

    `shown` is the end of what came before and was already decided: read only as context,
    so a key glued to a word is judged the same whichever chunk the word came in.
    """
    if not ended:
        # An escape cut off can only be at the very end: the search starts near there.
        cut = _CUT_ESCAPE.search(text, max(0, len(text) - _CUT_ESCAPE_REACH))
        text = text[: cut.start()] if cut is not None else text
    found, undecided = _read(shown + text, growing=not ended)
    skip = len(shown)
    decided = [
        FoundKey(k.key, k.start - skip, k.end - skip)
        for k in found
        if k.start >= skip and k.end <= undecided
    ]
    return decided, max(undecided - skip, 0)


def contains_key(text: str) -> bool:
    return bool(scan_keys(text))


def find_keys(text: str) -> list[str]:
    """Every key in `text` as its provider issued it (disguises undone), once each, in order."""
    return list(dict.fromkeys(found.key for found in scan_keys(text)))


def lone_key(text: str) -> str | None:
    """The key, when `text` holds one key and nothing else but whitespace and invisibles."""
    found = scan_keys(text)
    if len(found) != 1:
        return None
    rest = text[: found[0].start] + text[found[0].end :]
    return None if undisguise(rest).text.strip() else found[0].key


def mask_found(text: str, found: Iterable[FoundKey]) -> str:
    """`text` with each found key, in whatever disguise it stood, replaced by its mask."""
    parts: list[str] = []
    done = 0
    for key in found:
        parts += [text[done : key.start], mask_key(key.key)]
        done = key.end
    parts.append(text[done:])
    return "".join(parts)


def redact_keys(text: str) -> str:
    """`text` as written, except that every key in it is masked."""
    found = scan_keys(text)
    return mask_found(text, found) if found else text


def mask_key(key: str) -> str:
    """At most the first 7 and last 4 characters; short strings show less."""
    if len(key) <= MASK_HEAD + MASK_TAIL + 4:
        return key[:3] + "..."
    return f"{key[:MASK_HEAD]}...{key[-MASK_TAIL:]}"


@dataclass(frozen=True, slots=True)
class KeyRefusal:
    reason: str


def normalise_key(raw: str) -> str | KeyRefusal:
    """The key as it will be validated and stored, or why it is refused."""
    key = raw.strip()
    if not key:
        return KeyRefusal("That was empty. Paste your OpenAI API key (it starts with `sk-`).")
    # A key pasted with a zero-width character, a Unicode dash or a line break inside is
    # still that key.
    key = lone_key(key) or key
    if any(ch.isspace() for ch in key):
        return KeyRefusal(
            "A key has no spaces or line breaks inside it. Copy it again in one piece."
        )
    if not key.isascii() or not key.isprintable():
        # Keys are printable ASCII; anything else cannot even travel in an HTTP header.
        return KeyRefusal(
            "That doesn't look like an API key: keys are letters, digits, `-` and `_` only. "
            "Copy it again from your provider's page."
        )
    if len(key) > MAX_KEY_LENGTH:
        return KeyRefusal(f"That is longer than any API key ({MAX_KEY_LENGTH} characters at most).")
    if key.startswith(ADMIN_KEY_PREFIX):
        return KeyRefusal(
            "That is an admin key, which can manage your whole organisation. "
            "Please create a normal project key instead, and keep the admin key to yourself."
        )
    return key
