"""The ReplySink for one Discord message: typing, a thread, throttled streaming edits, DMs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import discord

from adapters.discord import texts
from adapters.discord.render import NO_MENTIONS, split_message, thread_name
from adapters.tasks import BackgroundTasks
from bot.domain import ReplyLost

log = logging.getLogger(__name__)

# Discord shows "typing" for about ten seconds after each trigger.
TYPING_REFRESH = 8.0
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440


@dataclass(frozen=True, slots=True)
class SinkTiming:
    """The pacing rules, injectable so tests need not wait."""

    # Discord rate-limits edits; a streaming answer is edited at most this often.
    edit_interval: float = 1.0
    # The in-channel "open your DMs" notice disappears after this many seconds.
    notice_lifetime: float = 60.0
    clock: Callable[[], float] = time.monotonic


class DiscordSink:
    """Answers one member's message where the server asked: a new thread or in place."""

    def __init__(
        self,
        *,
        message: discord.Message,
        question: str,
        open_thread: bool,
        timing: SinkTiming,
        background: BackgroundTasks,
    ) -> None:
        self._message = message
        self._question = question
        self._open_thread = open_thread
        self._timing = timing
        self._background = background
        self._target: discord.abc.Messageable | None = None
        self._typing: asyncio.Task[None] | None = None
        self._text = ""
        self._sent: list[discord.Message] = []
        self._shown: list[str] = []
        self._last_flush = 0.0
        # Set when Discord refused a send or edit; the core is told once, by ReplyLost.
        self._broken = False

    async def start(self) -> None:
        # Typing shows where the member asked; the thread opens with the first words, so a
        # failed turn (told privately) leaves no empty thread behind.
        self._typing = self._background.spawn(
            self._keep_typing(self._message.channel), name=f"discord-typing:{self._message.id}"
        )

    async def append(self, text: str) -> None:
        self._text += text
        if not self._sent:
            # Discord refuses a message of only whitespace; wait for the first real words.
            if not self._text.strip():
                return
            await self._stop_typing()
            await self._flush()
        elif self._timing.clock() - self._last_flush >= self._timing.edit_interval:
            await self._flush()

    async def finish(self) -> None:
        await self._stop_typing()
        if self._text.strip() and not self._broken:
            await self._flush()

    async def private(self, text: str) -> None:
        try:
            for piece in split_message(text):
                await self._message.author.send(piece, allowed_mentions=NO_MENTIONS)
        except discord.Forbidden:
            if self._message.guild is None:
                log.warning("cannot send a DM to %s", self._message.author.id)
                return
            await self._dms_closed_notice()

    async def delete_original(self) -> bool:
        try:
            await self._message.delete()
        except discord.NotFound:
            return True
        except discord.Forbidden:
            return False
        except discord.HTTPException as error:
            log.warning("deleting message %s failed: HTTP %s", self._message.id, error.status)
            return False
        return True

    async def _answer_place(self) -> discord.abc.Messageable:
        channel = self._message.channel
        if not self._open_thread or self._message.guild is None:
            return channel
        if isinstance(channel, discord.Thread) or not isinstance(channel, discord.TextChannel):
            return channel
        try:
            return await self._message.create_thread(
                name=thread_name(self._question), auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException as error:
            # Without Create Public Threads the member still gets an answer, in place.
            log.warning("cannot open a thread in %s: HTTP %s", channel.id, error.status)
            return channel

    async def _keep_typing(self, target: discord.abc.Messageable) -> None:
        try:
            while True:
                await target.typing()
                await asyncio.sleep(TYPING_REFRESH)
        except discord.HTTPException as error:
            log.debug("typing indicator failed: HTTP %s", error.status)

    async def _stop_typing(self) -> None:
        if self._typing is not None:
            self._typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._typing
            self._typing = None

    async def _flush(self) -> None:
        if self._broken:
            return
        try:
            await self._show(split_message(self._text))
        except discord.HTTPException as error:
            # e.g. the thread was deleted or the bot lost Send Messages mid-answer.
            log.warning("cannot show the answer to %s: HTTP %s", self._message.id, error.status)
            self._broken = True
            raise ReplyLost from None
        self._last_flush = self._timing.clock()

    async def _show(self, pieces: list[str]) -> None:
        if self._target is None:
            self._target = await self._answer_place()
        target = self._target
        # Outside a thread, the first piece quotes the question so it is clear who asked.
        replies_in_place = self._message.guild is not None and not isinstance(
            target, discord.Thread
        )
        for index, piece in enumerate(p for p in pieces if p.strip()):
            if index < len(self._sent):
                if self._shown[index] != piece:
                    await self._sent[index].edit(content=piece, allowed_mentions=NO_MENTIONS)
                    self._shown[index] = piece
                continue
            if replies_in_place and index == 0:
                sent = await target.send(
                    piece,
                    allowed_mentions=NO_MENTIONS,
                    reference=self._message,
                    mention_author=False,
                )
            else:
                sent = await target.send(piece, allowed_mentions=NO_MENTIONS)
            self._sent.append(sent)
            self._shown.append(piece)

    async def _dms_closed_notice(self) -> None:
        try:
            # No reply reference: the leak guard may have deleted the message already, and a
            # reply's preview would quote it when it could not.
            notice = await self._message.channel.send(
                texts.dms_closed(self._message.author.id), allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as error:
            log.warning("cannot post the closed-DMs notice: HTTP %s", error.status)
            return
        self._background.spawn(
            _delete_later(notice, self._timing.notice_lifetime), name=f"discord-notice:{notice.id}"
        )


async def _delete_later(message: discord.Message, delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        await message.delete()
    except discord.NotFound:
        return
    except discord.HTTPException as error:
        log.warning("cannot delete notice %s: HTTP %s", message.id, error.status)
