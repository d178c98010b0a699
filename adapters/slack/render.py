"""Model output made safe and sized for Slack: no broadcasts, messages under Slack's limits."""

from __future__ import annotations

import re

# Slack truncates `text` past 40,000 characters and advises staying under 4,000; streamed
# `markdown_text` takes at most 12,000 a call. One message stays under the smallest of these.
MESSAGE_LIMIT = 3900

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = re.compile(r"[&<>]")
_ENTITY_TAIL = re.compile(r"&[a-z]{0,3}$")


def neutralise(text: str) -> str:
    """Escape `&`, `<` and `>` as Slack asks, so `<!channel>`, `<!here>`, `<!everyone>`,
    user-group and user mentions in model output show as text and notify nobody.

    The escape is per character, so pieces of a stream can be escaped one at a time.
    """
    return _SPECIAL.sub(lambda match: _ESCAPES[match.group(0)], text)


# A channel link the bot wrote itself (`<#C0123>`): it shows a name and notifies nobody.
_CHANNEL_LINK = re.compile(r"<#[CG][A-Z0-9]+(?:\|[^<>&]*)?>")


def neutralise_reply(text: str) -> str:
    """A command's reply, which may repeat what members typed (a prompt, instructions), with
    every mention and broadcast inert; only channel links stay links."""
    parts: list[str] = []
    done = 0
    for link in _CHANNEL_LINK.finditer(text):
        parts += [neutralise(text[done : link.start()]), link.group(0)]
        done = link.end()
    parts.append(neutralise(text[done:]))
    return "".join(parts)


def split_point(text: str, limit: int) -> int:
    """Where to cut `text` so the head fits `limit`: a line break or space if one is near,
    never inside an escape like `&lt;`."""
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    for separator in ("\n", " "):
        cut = window.rfind(separator)
        if cut >= limit // 2:
            return cut + 1
    partial = _ENTITY_TAIL.search(window)
    if partial is not None and partial.start() > 0:
        return partial.start()
    return limit
