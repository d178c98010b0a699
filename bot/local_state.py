"""State that must outlive one request, kept in this process's memory.

Each class implements a port of bot/ports.py, so a Store can replace it when several
processes serve the same members (shared state lives in the Store, see design.md)."""

from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.ports import RateRefusal, RateWindow

log = logging.getLogger(__name__)

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


class LocalOnceLog:
    """Tokens with their expiry; at most `max_tokens`, the soonest to expire going first when
    full (only verified requests reach it, so its size follows real traffic)."""

    def __init__(self, *, max_tokens: int = 100_000) -> None:
        self._max_tokens = max_tokens
        self._until: dict[str, datetime] = {}
        self._expiries: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._until)

    async def first_time(self, token: str, *, now: datetime, until: datetime) -> bool:
        # Checked and remembered with no await in between: of two copies arriving
        # together, exactly one goes through.
        self._expire(now)
        if token in self._until:
            return False
        while len(self._until) >= self._max_tokens:
            _, dropped = heapq.heappop(self._expiries)
            self._until.pop(dropped, None)
            log.warning("too many tokens to remember; forgot one before it expired")
        self._until[token] = until
        heapq.heappush(self._expiries, (until, token))
        return True

    def _expire(self, now: datetime) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, token = heapq.heappop(self._expiries)
            self._until.pop(token, None)
