"""Background work an adapter owns (answers after Slack's 3-second acknowledgement,
Discord's per-message handlers, typing indicators), so closing it leaves nothing running."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
Result = TypeVar("Result")


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, work: Coroutine[Any, Any, Result], *, name: str) -> asyncio.Task[Result] | None:
        """Run `work` in the background; None (and `work` dropped) once closing began."""
        if self._closed:
            work.close()
            log.warning("shutting down; dropped %s", name)
            return None
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until every task spawned so far (and any they spawn) has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, *, grace: float = 0.0) -> None:
        """Take no new work; let running work finish for `grace` seconds, then cancel it."""
        self._closed = True
        if self._tasks and grace > 0:
            await asyncio.wait(set(self._tasks), timeout=grace)
        # Work being cancelled may still have spawned more before closing began: repeat.
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
