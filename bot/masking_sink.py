"""Model output with every key masked, on every platform, even when a key is streamed in pieces.

A model may repeat a key it saw. Streaming delivers text in chunks, so a key can arrive split
across them (`sk-pro` then `j-...`); text that could still be, or lengthen, a key is held
back until the finder can decide, then shown masked or as it was.
"""

from __future__ import annotations

from bot.domain import ReplyLost
from bot.keys import MAX_KEY_LENGTH, mask_found, scan_stream
from bot.ports import ReplySink

# A key is at most 512 characters; disguises may lengthen it. Holding more than this would
# stall the answer for what cannot be one key any more, so it is decided as it stands.
HOLD_LIMIT = 2 * MAX_KEY_LENGTH
# Enough to tell whether a key is glued to a word, past a few invisible characters.
CONTEXT = 16


class KeyMaskingSink:
    """Wraps the platform's sink for one answer; `finish` shows whatever was held back."""

    def __init__(self, inner: ReplySink, *, hold_limit: int = HOLD_LIMIT) -> None:
        self._inner = inner
        self._hold_limit = hold_limit
        self._pending = ""
        # The end of the text already shown, as it was written (keys in it included), so the
        # next chunk is read in context; never shown again.
        self._context = ""
        self._lost = False

    async def start(self) -> None:
        await self._inner.start()

    async def append(self, text: str) -> None:
        self._pending += text
        found, undecided = scan_stream(self._pending, shown=self._context)
        if len(self._pending) - undecided > self._hold_limit:
            await self._release_all()
            return
        if undecided == 0:
            return
        decided, self._pending = self._pending[:undecided], self._pending[undecided:]
        self._context = (self._context + decided)[-CONTEXT:]
        await self._show(mask_found(decided, found))

    async def finish(self) -> None:
        try:
            await self._release_all()
        finally:
            await self._inner.finish()

    async def private(self, text: str) -> None:
        await self._inner.private(text)

    async def delete_original(self) -> bool:
        return await self._inner.delete_original()

    async def _release_all(self) -> None:
        pending, self._pending = self._pending, ""
        if pending and not self._lost:
            found, _ = scan_stream(pending, shown=self._context, ended=True)
            self._context = (self._context + pending)[-CONTEXT:]
            await self._show(mask_found(pending, found))

    async def _show(self, text: str) -> None:
        try:
            await self._inner.append(text)
        except ReplyLost:
            # The platform refused the answer; finishing must not try to show the rest.
            self._lost = True
            raise
