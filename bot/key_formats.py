"""The keys members may hold, provider by provider.

Each provider a member may hold a key for brings its pattern here. A pattern with a fixed
length and a marker (OpenAI's `T3BlbkFJ`, base64 of "OpenAI"; Anthropic's `AA` tail) is
evidence enough; a bare length of key characters is not, so those forms must also look
random (bot/randomness.py): ordinary words glued to `sk-` (`task-management-dashboard`) do not.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from itertools import product

KEY_CHARS = frozenset(string.ascii_letters + string.digits + "-_")
ALNUM = frozenset(string.ascii_letters + string.digits)

# Where a key of any known format begins.
PREFIX = re.compile(r"sk-|gsk_")
PREFIX_WORDS = ("sk-", "gsk_")
# The broad form: `sk-`, maybe a kind, or Groq's `gsk_`, then at least 20 key characters
# that look random.
BROAD_PREFIX = re.compile(r"sk-(?:proj-|svcacct-|admin-)?|gsk_")
MARKED_KINDS = frozenset({"sk-proj-", "sk-svcacct-", "sk-admin-"})
BROAD_MIN_BODY = 20
# Base64 of `{"`: a JWT or an encoded JSON object, as random as a key but never one. Prose that
# ends a word in `sk` before a dash (`the task — eyJhbGciOi...`) would otherwise read as a key.
ENCODED_JSON = "eyJ"


@dataclass(frozen=True, slots=True)
class ExactFormat:
    name: str
    pattern: re.Pattern[str]
    # Where the random part starts, for forms whose shape alone proves little.
    random_from: int | None = None


# The public secret-scanner rule for project, service-account and admin keys:
# `sk-(?:proj|svcacct|admin)-(?:.{74}|.{58})T3BlbkFJ(?:.{74}|.{58})` over [A-Za-z0-9_-]. One
# pattern per pair of lengths, so that a 58-character half is never read as 74 characters
# that run on into the next line.
_PROJECT_FORMS = tuple(
    ExactFormat(
        "openai-project",
        re.compile(
            rf"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{{{head}}}T3BlbkFJ[A-Za-z0-9_-]{{{tail}}}"
        ),
    )
    for head, tail in product((74, 58), repeat=2)
)
EXACT_FORMATS = (
    *_PROJECT_FORMS,
    ExactFormat("openai-legacy", re.compile(r"sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20}")),
    ExactFormat("openai-legacy-plain", re.compile(r"sk-[a-zA-Z0-9]{48}"), random_from=3),
    ExactFormat("openrouter", re.compile(r"sk-or-v1-[0-9a-f]{64}")),
    ExactFormat("anthropic", re.compile(r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{93}AA")),
    ExactFormat("groq", re.compile(r"gsk_[a-zA-Z0-9]{52}"), random_from=4),
)

# Text no key pattern may match: a pattern that finds keys in these would mask (and refuse)
# ordinary words, names and numbers.
_ORDINARY_TEXT = (
    "the quick brown fox jumps over the lazy dog",
    "Hello, world! Please summarise this article about project-management-dashboards.",
    "password secret token apikey api_key bearer sk- gsk_ key-123",
    "2026-11-28T00:15:09Z 1234567890 3.14159 user@example.com https://example.com/a/b",
    "internationalization_and_localization_considerations",
    "a b c d e f 0 1 2 3",
)
# A key is at least this long; shorter matches would be words or numbers.
MIN_PATTERN_MATCH = 16


def too_broad(pattern: re.Pattern[str]) -> str | None:
    """Why an operator's key pattern would find keys in ordinary text, or None."""
    if pattern.fullmatch("") is not None:
        return "matches empty text"
    for text in _ORDINARY_TEXT:
        for word in (text, *text.split()):
            found = pattern.search(word)
            if found is not None:
                return f"matches ordinary text ({found.group(0)[:20]!r}); make it stricter"
    for length in range(1, MIN_PATTERN_MATCH):
        for sample in ("a" * length, "0" * length, "aB3" * length):
            if pattern.fullmatch(sample[:length]) is not None:
                return f"matches {length}-character text; a key pattern needs a longer match"
    return None
