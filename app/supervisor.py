"""Running the adapters as a service: each supervised on its own, reconnecting with capped
backoff while the others keep serving, and a graceful stop on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.ports import Adapter, AdapterConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """How to build one adapter afresh: a platform client that failed is not reused."""

    name: str
    build: Callable[[], Adapter]
    # A platform connection that ends is reopened; the console ending is the end of input.
    reconnects: bool = True


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 1.0
    cap: float = 60.0
    # A connection that stayed up this long was healthy: the next failure starts afresh.
    healthy_after: float = 60.0

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap, self.first * 2 ** max(failures - 1, 0))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not secrecy


class Supervisor:
    def __init__(
        self,
        *,
        specs: Sequence[AdapterSpec],
        grace: float,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._specs = specs
        self._grace = grace
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._stop = asyncio.Event()
        self._running: dict[str, Adapter] = {}
        self._fatal: AdapterConfigError | None = None

    def waiting_for(self) -> list[str]:
        """The adapters not taking messages now (all of them once stopping), for /readyz."""
        if self._stop.is_set():
            return [spec.name for spec in self._specs]
        waiting = []
        for spec in self._specs:
            adapter = self._running.get(spec.name)
            if adapter is None or not adapter.ready:
                waiting.append(spec.name)
        return waiting

    def stop(self) -> None:
        self._stop.set()

    async def serve(
        self,
        *,
        handle_signals: bool = True,
        built: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Until a stop signal, the end of the console's input, or a setting the platform
        refuses (raised as AdapterConfigError after everything is closed). `built` runs
        once every adapter is built, before any connects."""
        # Built once before anything runs: a bad setting stops the start in one line.
        first = {spec.name: spec.build() for spec in self._specs}
        if built is not None:
            await built()
        log.info("starting %s", ", ".join(first))
        loop = asyncio.get_running_loop()
        if handle_signals:
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(number, self._on_signal, number)
        try:
            supervised = [
                asyncio.create_task(self._supervise(spec, first[spec.name]), name=spec.name)
                for spec in self._specs
            ]
            stopping = asyncio.create_task(self._stop.wait())
            await asyncio.wait([stopping, *supervised], return_when=asyncio.FIRST_COMPLETED)
            self._stop.set()
            await asyncio.gather(*supervised, return_exceptions=True)
            stopping.cancel()
        finally:
            if handle_signals:
                for number in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(number)
        if self._fatal is not None:
            raise self._fatal

    def _on_signal(self, number: int) -> None:
        if not self._stop.is_set():
            log.info(
                "%s: stopping; answers in flight have %g s to finish",
                signal.Signals(number).name,
                self._grace,
            )
        self._stop.set()

    async def _supervise(self, spec: AdapterSpec, adapter: Adapter) -> None:
        failures = 0
        while True:
            started = self._clock()
            outcome = await self._run_until_stop(adapter)
            if self._stop.is_set():
                await self._close(adapter, grace=self._grace)
                return
            await self._close(adapter, grace=0.0)
            if isinstance(outcome, AdapterConfigError):
                self._fatal = self._fatal or outcome
                self._stop.set()
                return
            if outcome is None and not spec.reconnects:
                self._stop.set()
                return
            failures = 1 if self._clock() - started >= self._backoff.healthy_after else failures + 1
            wait = self._backoff.delay(failures)
            cause = "the connection ended" if outcome is None else _describe(outcome)
            log.warning("%s: %s; retrying in %.0f s", spec.name, cause, wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            if self._stop.is_set():
                return
            try:
                adapter = spec.build()
            except AdapterConfigError as error:
                self._fatal = self._fatal or error
                self._stop.set()
                return

    async def _run_until_stop(self, adapter: Adapter) -> BaseException | None:
        """None when the adapter's run ended by itself, its failure otherwise; returns at
        once when the stop is asked for (the adapter is then closed gracefully)."""
        self._running[adapter.name] = adapter
        running = asyncio.create_task(adapter.run(), name=f"adapter:{adapter.name}")
        stopping = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not running.done():
            # Closing ends `run`; it is collected when the adapter is closed.
            running.add_done_callback(_collect)
            return None
        if running.cancelled():
            return None
        error = running.exception()
        if error is not None and not isinstance(error, Exception):
            # KeyboardInterrupt, SystemExit: the process is ending, not the adapter failing.
            raise error
        return error

    async def _close(self, adapter: Adapter, *, grace: float) -> None:
        self._running.pop(adapter.name, None)
        try:
            await adapter.close(grace=grace)
        except Exception:
            log.warning("%s: closing failed", adapter.name, exc_info=True)


def _collect(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "%s ended with an error while closing", task.get_name(), exc_info=task.exception()
        )


def _describe(error: BaseException) -> str:
    """One line with the cause, for a log an operator reads; the traceback goes to DEBUG."""
    log.debug("adapter failure", exc_info=error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"cannot connect ({type(error).__name__}{': ' + text if text else ''})"
