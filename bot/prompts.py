"""What the model is told before the question: the system prompt at its three levels
(operator, server/workspace, channel), a member's own instructions, and who said what in a
shared conversation. Every rule about them, once, for every platform."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from bot import texts
from bot.domain import WorkspaceConfig
from bot.keys import contains_key, redact_keys

# A prompt or a member's instructions; long enough for a page of rules, short enough that
# it leaves the context budget to the conversation. Discord's modal text input caps at 4,000.
MAX_PROMPT_CHARS = 4000
# Words that clear a prompt instead of setting it.
CLEAR_WORDS = frozenset({"clear", "off", "none", "reset", "default"})

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant in a team chat. Answer clearly and concisely; "
    "use Markdown sparingly."
)
SHARED_NOTE = (
    "Several people may write in this conversation. Each of their messages starts with the "
    "writer's name in square brackets, like `[Alice]: ...`; your own earlier answers have no "
    "name. The last message is from the person you are answering now."
)

PromptSource = Literal["operator", "server", "channel"]

# A name shown as `[name]: ` must not close its bracket early, start a new line, or carry
# invisible characters: it could otherwise fake a line by another speaker.
_NOT_IN_NAME = re.compile(r"[\[\]\s]+")
MAX_NAME_CHARS = 64
UNKNOWN_SPEAKER = "someone"


@dataclass(frozen=True, slots=True)
class PromptRefused:
    """Why a prompt was not stored; never repeats the prompt itself."""

    reason: str


@dataclass(frozen=True, slots=True)
class PromptChoice:
    """The system prompt that applies in one place, and whose it is."""

    source: PromptSource
    text: str


def check_prompt(text: str) -> str | PromptRefused | None:
    """The prompt to store, None to clear it, or why it is refused (nothing then changes)."""
    # Control characters other than line breaks and tabs mean nothing to a model, and
    # PostgreSQL cannot store NUL.
    cleaned = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if not cleaned or cleaned.lower() in CLEAR_WORDS:
        return None
    if contains_key(cleaned):
        # A prompt is read by the provider of every member who asks: never a key's place.
        return PromptRefused(texts.PROMPT_IS_A_KEY)
    if len(cleaned) > MAX_PROMPT_CHARS:
        return PromptRefused(texts.prompt_too_long(len(cleaned), MAX_PROMPT_CHARS))
    return cleaned


def prompt_here(config: WorkspaceConfig | None, channel: str, operator: str) -> PromptChoice:
    """The channel's prompt, else the server's, else the operator's."""
    if config is not None:
        if channel and config.channel_prompts.get(channel):
            return PromptChoice("channel", config.channel_prompts[channel])
        if config.system_prompt:
            return PromptChoice("server", config.system_prompt)
    return PromptChoice("operator", operator)


def speaker_name(raw: str, *, fallback: str = UNKNOWN_SPEAKER) -> str:
    """A display name as it may stand in `[name]: `: one line, no brackets, no key (names
    are typed by their owners, who may paste anything), at most 64 characters."""
    name = " ".join(_NOT_IN_NAME.split(unicodedata.normalize("NFKC", raw))).strip()
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    # Redacted after the brackets are gone: `sk-[proj]-...` must not become a key unseen.
    name = redact_keys(name)[:MAX_NAME_CHARS].strip()
    return name or fallback


def speaker_line(name: str, text: str) -> str:
    # The name travels in the content rather than in the OpenAI `name` field: many
    # OpenAI-compatible providers drop `name`, and it allows only `[a-zA-Z0-9_-]`, which
    # most display names are not. A prefix reaches every model the same way.
    return f"[{speaker_name(name)}]: {text}"


def system_text(base: str, *, shared: bool, instructions: str | None, asker: str = "") -> str:
    """The system message of one turn: the prompt that applies, a note that several people
    write when they do, and the asker's own instructions (only on the asker's own turns)."""
    parts = [base]
    if shared:
        parts.append(SHARED_NOTE)
    if instructions:
        who = (
            f"The person you are answering now ([{speaker_name(asker)}])"
            if shared
            else ("The person you are answering")
        )
        parts.append(f"{who} asked you to follow these instructions:\n{instructions}")
    return "\n\n".join(parts)


def describe_prompt(choice: PromptChoice, *, has_instructions: bool, place: str) -> str:
    """For /help: whose prompt applies here, and whether the member's instructions do."""
    return texts.prompt_applies(choice.source, has_instructions=has_instructions, place=place)
