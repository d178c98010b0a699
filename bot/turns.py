"""The answers in flight, per member, so /forget (or an uninstall) can stop them first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from bot.domain import Member

log = logging.getLogger(__name__)

Result = TypeVar("Result")
Matches = Callable[[Member], bool]


class TurnsInFlight:
    """Each turn runs as a task of its own, so stopping it cancels the provider call and
    nothing after it (a usage row, "last used", a refused key's audit event) is written,
    while the adapter that awaited it carries on normally."""

    def __init__(self, *, grace: float = 10.0) -> None:
        # How long a stop waits for cancelled turns to close their answers.
        self._grace = grace
        self._running: dict[Member, set[asyncio.Task[Any]]] = {}
        self._stopping: list[Matches] = []

    def accepting(self, member: Member) -> bool:
        return not any(matches(member) for matches in self._stopping)

    async def run(self, member: Member, work: Coroutine[Any, Any, Result]) -> Result | None:
        """`work` as one of the member's turns; None when it was stopped, or refused because
        the member's data is being deleted."""
        if not self.accepting(member):
            work.close()
            return None
        turn = asyncio.create_task(work, name=f"turn-{member}")
        self._running.setdefault(member, set()).add(turn)
        try:
            return await turn
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if turn.cancelled() and (current is None or not current.cancelling()):
                return None
            raise
        finally:
            running = self._running.get(member)
            if running is not None:
                running.discard(turn)
                if not running:
                    del self._running[member]

    @asynccontextmanager
    async def stopped(self, matches: Matches) -> AsyncIterator[None]:
        """Inside, no turn of a matching member starts, and those that were running have been
        cancelled and have ended (or outlasted the grace period, which is logged)."""
        self._stopping.append(matches)
        try:
            turns = [
                turn
                for member, running in self._running.items()
                if matches(member)
                for turn in running
            ]
            for turn in turns:
                turn.cancel()
            if turns:
                _, pending = await asyncio.wait(turns, timeout=self._grace)
                if pending:
                    log.warning("%d stopped turns still closing their answers", len(pending))
            yield
        finally:
            self._stopping.remove(matches)
