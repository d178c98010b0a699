"""Reading a conversation back from Discord: member turns as user, bot turns as assistant."""

from __future__ import annotations

import logging
import re

import discord

from bot.domain import HistoryTurn

log = logging.getLogger(__name__)

_READABLE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def mention_pattern(user_id: int) -> re.Pattern[str]:
    return re.compile(rf"<@!?{user_id}>")


def strip_mentions_of(text: str, user_id: int) -> str:
    return mention_pattern(user_id).sub("", text).strip()


def _turn(message: discord.Message, me: int) -> HistoryTurn | None:
    if message.type not in _READABLE_TYPES:
        return None
    text = strip_mentions_of(message.content, me)
    if not text:
        # Without the Message Content intent other people's text arrives empty.
        return None
    if message.author.id == me:
        return HistoryTurn("assistant", text)
    return HistoryTurn("user", text, author=author_name(message.author))


def author_name(user: discord.abc.User) -> str:
    """The name Discord shows for a member: their server nickname, else their global
    display name, else their username (discord.py's `display_name` picks that way)."""
    return user.display_name


def _merge(turns: list[HistoryTurn]) -> tuple[HistoryTurn, ...]:
    """One turn per speaker change: a long answer was split over several messages."""
    merged: list[HistoryTurn] = []
    for turn in turns:
        if merged and (merged[-1].role, merged[-1].author) == (turn.role, turn.author):
            last = merged[-1]
            merged[-1] = HistoryTurn(turn.role, f"{last.text}\n{turn.text}", author=turn.author)
        else:
            merged.append(turn)
    return tuple(merged)


async def read_history(
    channel: discord.abc.Messageable,
    *,
    before: discord.Message,
    me: int,
    limit: int,
    starter: discord.Message | None = None,
) -> tuple[HistoryTurn, ...]:
    """The messages before `before`, oldest first, after `starter` (a thread's question)."""
    turns: list[HistoryTurn] = []
    async for message in channel.history(limit=limit, before=before):
        turn = _turn(message, me)
        if turn is not None:
            turns.append(turn)
    turns.reverse()
    if starter is not None:
        first = _turn(starter, me)
        if first is not None:
            turns.insert(0, first)
    return _merge(turns)


async def thread_starter(thread: discord.Thread) -> discord.Message | None:
    """The channel message a thread was opened on (same id as the thread)."""
    cached = thread.starter_message
    if cached is not None:
        return cached
    parent = thread.parent
    if not isinstance(parent, discord.TextChannel):
        return None
    try:
        return await parent.fetch_message(thread.id)
    except discord.NotFound:
        return None
    except discord.HTTPException as error:
        log.warning("cannot read the start of thread %s: HTTP %s", thread.id, error.status)
        return None
