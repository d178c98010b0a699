"""Made-up keys of every format the finder knows, and the disguises people paste them in.

Every key is built at run time from a seeded `random.Random`, never written out in the source.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable

from bot.disguise import undisguise
from bot.keys import MASK_HEAD

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
MARKER = "T3BlbkFJ"  # base64 of "OpenAI", in OpenAI's precise key shapes


def _draw(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _project(kind: str) -> Callable[[random.Random], str]:
    def make(rng: random.Random) -> str:
        half = rng.choice((74, 58))
        return f"sk-{kind}-{_draw(rng, URLSAFE, half)}{MARKER}{_draw(rng, URLSAFE, half)}"

    return make


def _broad(prefix: str) -> Callable[[random.Random], str]:
    def make(rng: random.Random) -> str:
        return prefix + _draw(rng, URLSAFE, rng.randint(40, 120))

    return make


FIXED_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "openai-project": _project("proj"),
    "openai-service-account": _project("svcacct"),
    "openai-admin": _project("admin"),
    "openai-legacy": lambda rng: f"sk-{_draw(rng, ALNUM, 20)}{MARKER}{_draw(rng, ALNUM, 20)}",
    "openai-legacy-plain": lambda rng: "sk-" + _draw(rng, ALNUM, 48),
    "openrouter": lambda rng: "sk-or-v1-" + _draw(rng, "0123456789abcdef", 64),
    "anthropic": lambda rng: "sk-ant-api03-" + _draw(rng, URLSAFE, 93) + "AA",
    "groq": lambda rng: "gsk_" + _draw(rng, ALNUM, 52),
}
# Keys of no known length: only their randomness says what they are.
BROAD_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "broad": _broad("sk-"),
    "broad-project": _broad("sk-proj-"),
}
FORMATS = {**FIXED_FORMATS, **BROAD_FORMATS}
PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-or-v1-", "sk-ant-api03-", "gsk_", "sk-")


def body_of(key: str) -> str:
    """The random part of a key, after its fixed prefix."""
    prefix = next(p for p in PREFIXES if key.startswith(p))
    return key[len(prefix) :]


ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e")
DASHES = tuple("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
BREAKS = (" ", "\n", "\r\n", "\t", " \n ")


def _insert(rng: random.Random, key: str, pieces: tuple[str, ...], most: int) -> str:
    chars = list(key)
    for _ in range(rng.randint(1, most)):
        chars.insert(rng.randint(1, len(chars) - 1), rng.choice(pieces))
    return "".join(chars)


def zero_width(key: str, rng: random.Random) -> str:
    return _insert(rng, key, ZERO_WIDTH, 4)


def unicode_dashes(key: str, rng: random.Random) -> str:
    return "".join(rng.choice(DASHES) if c == "-" else c for c in key)


def percent_encoded(key: str, rng: random.Random) -> str:
    share = rng.random()

    def encode(char: str) -> str:
        if char == "-" or rng.random() < share:
            code = "".join(f"%{byte:02X}" for byte in char.encode())
            return code if rng.random() < 0.5 else code.lower()
        return char

    return "".join(encode(c) for c in key)


def fullwidth(key: str, rng: random.Random) -> str:
    """Fullwidth letters and digits, which Unicode NFKC folds back to ASCII."""
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and rng.random() < 0.5 else c for c in key
    )


def whitespace(key: str, rng: random.Random) -> str:
    """A space or line break or two, anywhere in the key, the first 20 characters included."""
    return _insert(rng, key, BREAKS, 2)


# In the order they are combined: percent-encoding last, as a URL would carry the rest.
DISGUISES: dict[str, Callable[[str, random.Random], str]] = {
    "whitespace": whitespace,
    "zero-width": zero_width,
    "unicode-dashes": unicode_dashes,
    "fullwidth": fullwidth,
    "percent-encoded": percent_encoded,
}


def escaped_json(text: str) -> str:
    """As a logged payload shows it: line breaks as `\\n`, anything else non-ASCII as `\\uXXXX`."""
    return json.dumps({"type": "message", "text": text})


def visible_runs_of(key: str, text: str) -> list[str]:
    """Every stretch of the key's random part longer than a mask shows (7 characters) that a
    reader of `text` could see, once its disguises (escapes in a JSON body included) are
    undone: empty when the key is nowhere, or masked."""
    plain = undisguise(text).text
    body = body_of(key)
    width = MASK_HEAD + 1
    runs = (body[i : i + width] for i in range(len(body) - width + 1))
    return [run for run in runs if run in plain]


def disguised_examples(rng: random.Random) -> dict[str, tuple[str, str]]:
    """One key in each disguise the outside review used: name -> (key, as pasted)."""
    project, legacy = (
        FIXED_FORMATS["openai-project"](rng),
        FIXED_FORMATS["openai-legacy-plain"](rng),
    )
    return {
        "zero-width space": (project, project[:12] + "\u200b" + project[12:]),
        "soft hyphen": (project, project[:30] + "\u00ad" + project[30:]),
        "Unicode hyphens": (project, project.replace("-", "\u2011")),
        "%2D": (project, project.replace("-", "%2D")),
        "line break in the first 20": (project, project[:10] + "\n" + project[10:]),
        "glued to a word": (legacy, "mykey" + legacy),
    }
