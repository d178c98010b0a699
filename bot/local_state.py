"""State that must outlive one request, kept in this process's memory.

Each class implements a port of bot/ports.py, so a Store can replace it when several
processes serve the same members (shared state lives in the Store, see design.md)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.ports import RateRefusal, RateWindow

_SWEEP_EVERY = 256


class LocalAttemptLog:
    """Sliding windows of attempt times; memory stays bounded by the attempts of one span."""

    def __init__(self) -> None:
        self._stamps: dict[str, deque[datetime]] = {}
        self._longest = timedelta(0)
        self._since_sweep = 0

    async def attempt(self, windows: Sequence[RateWindow], now: datetime) -> RateRefusal | None:
        # Checked and counted with no await in between, so a burst cannot slip past.
        self._sweep(now)
        for window in windows:
            stamps = self._stamps.get(window.bucket)
            if stamps is None:
                continue
            while stamps and now - stamps[0] >= window.span:
                stamps.popleft()
            if len(stamps) >= window.limit:
                # Room comes back when the oldest attempt still in the way leaves the span.
                frees = stamps[len(stamps) - window.limit] + window.span
                return RateRefusal(window, max(frees - now, timedelta(0)))
        for window in windows:
            self._longest = max(self._longest, window.span)
            self._stamps.setdefault(window.bucket, deque()).append(now)
        return None

    def _sweep(self, now: datetime) -> None:
        """Forget buckets with no attempt left in any span, so the table stays small."""
        self._since_sweep += 1
        if self._since_sweep < _SWEEP_EVERY:
            return
        self._since_sweep = 0
        idle = [
            bucket
            for bucket, stamps in self._stamps.items()
            if not stamps or now - stamps[-1] >= self._longest
        ]
        for bucket in idle:
            del self._stamps[bucket]
