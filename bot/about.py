"""Asking about what is already there: a thread or a message read back with its speakers,
turned into one question for the invoker's own key (the Discord "Ask byok-bot about this"
menu, the Slack "Summarize thread" shortcut)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot import texts
from bot.keys import redact_keys
from bot.prompts import speaker_name


@dataclass(frozen=True, slots=True)
class Said:
    """One message as the platform shows it: who wrote it, and what."""

    speaker: str
    text: str


def question_about(said: Sequence[Said], *, summary: bool, max_chars: int) -> str:
    """The transcript, newest lines kept when it is too long for `max_chars`, then the
    request. Keys anyone pasted there are masked: they go to a provider."""
    request = texts.SUMMARY_REQUEST if summary else texts.ABOUT_REQUEST
    room = max(0, max_chars - len(request) - 2)
    lines: list[str] = []
    for line in reversed(said):
        text = " ".join(redact_keys(line.text).split("\n")).strip()
        if not text:
            continue
        # The same cleaning as a shared thread's speakers: a name cannot fake another line.
        entry = f"{speaker_name(line.speaker, fallback='someone')}: {text}"
        if len(entry) + 1 > room:
            if not lines:
                lines.append(entry[-room:] if room else "")
            break
        room -= len(entry) + 1
        lines.append(entry)
    lines.reverse()
    return "\n".join([*lines, "", request]).strip()
