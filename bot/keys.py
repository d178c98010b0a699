"""What an OpenAI key looks like, how it is normalised, and how it is shown."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_KEY_LENGTH = 512
MASK_HEAD = 7
MASK_TAIL = 4

# Broad pre-filter: anything shaped like an OpenAI secret key. Also right after an escape in
# logged JSON (`\nsk-...`), where the letter of the escape leaves no word boundary.
BROAD_KEY_PATTERN = re.compile(
    r"(?:\b|(?<=\\[bfnrt]))sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"
)
# Precise forms, from the public secret-scanner rule (T3BlbkFJ is base64 of "OpenAI").
PRECISE_KEY_PATTERN = re.compile(
    r"sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ"
    r"(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})"
    r"|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20}"
)
ADMIN_KEY_PREFIX = "sk-admin-"


def find_keys(text: str) -> list[str]:
    """Every key-shaped string in `text`, precise matches first."""
    found = [m.group(0) for m in PRECISE_KEY_PATTERN.finditer(text)]
    found += [k for k in (m.group(0) for m in BROAD_KEY_PATTERN.finditer(text)) if k not in found]
    return found


def contains_key(text: str) -> bool:
    return bool(BROAD_KEY_PATTERN.search(text) or PRECISE_KEY_PATTERN.search(text))


def redact_keys(text: str) -> str:
    text = PRECISE_KEY_PATTERN.sub(lambda m: mask_key(m.group(0)), text)
    return BROAD_KEY_PATTERN.sub(lambda m: mask_key(m.group(0)), text)


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
