"""Fitting text into Discord messages: 2000 characters, code fences kept whole."""

from __future__ import annotations

import re

import discord

from bot.keys import redact_keys

MESSAGE_LIMIT = 2000
THREAD_NAME_LIMIT = 100

# Model output and member text are never allowed to ping anyone.
NO_MENTIONS = discord.AllowedMentions.none()

_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")
_CLOSING = "\n```"
# A fence line longer than this is re-opened as its bare marker, so a piece always makes room.
_REOPEN_LIMIT = 100


def _reopening(fence_line: str) -> str:
    """The line that re-opens a block in the next piece: the fence as written, when short."""
    if len(fence_line) <= _REOPEN_LIMIT:
        return fence_line + "\n"
    match = _FENCE.match(fence_line)
    return (match.group(1) if match else "```") + "\n"


def open_fence(text: str) -> str | None:
    """The fence line still open at the end of `text`, or None when every block is closed."""
    opened: str | None = None
    marker = ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if match is None:
            continue
        if opened is None:
            opened, marker = line.strip(), match.group(1)
        elif match.group(1).startswith(marker[:3]) and not match.group(2).strip():
            opened = None
    return opened


def _cut_point(window: str, floor: int) -> int:
    """Where to end a piece: a paragraph break, else a line break, else a space, else hard."""
    half = max(floor, len(window) // 2)
    for separator, minimum in (("\n\n", half), ("\n", floor), (" ", floor)):
        position = window.rfind(separator)
        if position > minimum:
            return position + len(separator)
    return len(window)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split `text` into pieces of at most `limit` characters.

    Splits at paragraph or line boundaries; a code block that spans a split is closed
    at the end of one piece and reopened with the same fence at the start of the next.
    Splitting a longer text never changes the pieces before the last one, so a
    streamed answer can grow without rewriting messages already finished.
    """
    pieces: list[str] = []
    reopen = ""
    rest = text
    while True:
        body = reopen + rest
        if len(body) <= limit:
            pieces.append(body)
            return pieces
        window = body[: limit - len(_CLOSING)]
        cut = _cut_point(window, floor=len(reopen) + 1)
        piece, rest = body[:cut], body[cut:]
        fence = open_fence(piece)
        if fence is not None:
            piece = piece.rstrip("\n") + _CLOSING
            reopen = _reopening(fence)
        else:
            reopen = ""
        pieces.append(piece.rstrip() or piece)


def thread_name(question: str, fallback: str = "Answer") -> str:
    """A thread title from the question: its first line, single-spaced, cut to fit; any key
    in it masked, since the whole channel sees a thread's name."""
    first_line = next((line for line in redact_keys(question).splitlines() if line.strip()), "")
    name = " ".join(first_line.split())
    if len(name) > THREAD_NAME_LIMIT:
        name = name[: THREAD_NAME_LIMIT - 1].rstrip() + "…"
    return name or fallback
