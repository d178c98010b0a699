"""The ReplySink of an interaction: an answer only the member who asked sees (ephemeral),
streamed by editing it at most once a second; nothing is posted in the channel."""

from __future__ import annotations

import logging

import discord

from adapters.discord.render import NO_MENTIONS, split_message
from adapters.discord.sink import SinkTiming
from bot.domain import ReplyLost

log = logging.getLogger(__name__)


class EphemeralSink:
    """For an interaction already deferred ephemerally ("thinking…" shows until the first
    words): the first piece of the answer edits that response, later pieces are ephemeral
    follow-ups, each edited as the answer grows."""

    def __init__(self, *, interaction: discord.Interaction, timing: SinkTiming) -> None:
        self._interaction = interaction
        self._timing = timing
        self._text = ""
        # The deferred response still shows "thinking…": the first words or note go there.
        self._original_free = True
        self._sent: list[discord.InteractionMessage | discord.WebhookMessage | None] = []
        self._shown: list[str] = []
        self._last_flush = float("-inf")
        self._broken = False

    async def start(self) -> None:
        return None

    async def append(self, text: str) -> None:
        self._text += text
        if not self._text.strip():
            return
        if not self._sent or self._timing.clock() - self._last_flush >= self._timing.edit_interval:
            await self._flush()

    async def finish(self) -> None:
        if self._text.strip() and not self._broken:
            await self._flush()

    async def private(self, text: str) -> None:
        try:
            for piece in split_message(text):
                if self._original_free:
                    self._original_free = False
                    await self._interaction.edit_original_response(
                        content=piece, allowed_mentions=NO_MENTIONS
                    )
                else:
                    await self._interaction.followup.send(
                        piece, ephemeral=True, allowed_mentions=NO_MENTIONS
                    )
        except discord.HTTPException as error:
            log.warning("cannot answer interaction %s: HTTP %s", self._interaction.id, error.status)

    async def delete_original(self) -> bool:
        # The question went to the bot alone; nothing of it is on show anywhere.
        return True

    async def _flush(self) -> None:
        if self._broken:
            return
        try:
            await self._show([p for p in split_message(self._text) if p.strip()])
        except discord.HTTPException as error:
            log.warning("cannot show the answer to %s: HTTP %s", self._interaction.id, error.status)
            self._broken = True
            raise ReplyLost from None
        self._last_flush = self._timing.clock()

    async def _show(self, pieces: list[str]) -> None:
        for index, piece in enumerate(pieces):
            if index < len(self._sent):
                sent = self._sent[index]
                if self._shown[index] == piece:
                    continue
                if sent is None:
                    await self._interaction.edit_original_response(
                        content=piece, allowed_mentions=NO_MENTIONS
                    )
                else:
                    await sent.edit(content=piece, allowed_mentions=NO_MENTIONS)
                self._shown[index] = piece
                continue
            if self._original_free:
                self._original_free = False
                await self._interaction.edit_original_response(
                    content=piece, allowed_mentions=NO_MENTIONS
                )
                self._sent.append(None)
            else:
                self._sent.append(
                    await self._interaction.followup.send(
                        piece, ephemeral=True, allowed_mentions=NO_MENTIONS, wait=True
                    )
                )
            self._shown.append(piece)
