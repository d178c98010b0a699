"""Fair limits: one answer at a time, requests per minute, and spending caps."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot import texts
from bot.domain import Cap, CapPeriod, CapUnit, Member
from bot.ports import Store
from bot.usage import Spend, UsageLedger, day_start, month_start, next_day, next_month

_LIMIT_SYNTAX = re.compile(
    r"^(?P<period>daily|monthly|day|month)\s+"
    r"(?:(?P<dollar>\$)\s*)?(?P<amount>\d+(?:\.\d+)?)\s*(?P<suffix>k|m)?\s*"
    r"(?P<unit>usd|\$|dollars?|tokens?)?$",
    re.IGNORECASE,
)
_OFF_SYNTAX = re.compile(
    r"^(?:(?P<period>daily|monthly|day|month)\s+)?(?:off|none|clear)$", re.IGNORECASE
)


_SWEEP_EVERY = 256


@dataclass(frozen=True, slots=True)
class SetCap:
    period: CapPeriod
    cap: Cap | None


@dataclass(frozen=True, slots=True)
class ClearCaps:
    pass


@dataclass(frozen=True, slots=True)
class ShowCaps:
    pass


LimitRequest = SetCap | ClearCaps | ShowCaps


def _period(word: str) -> CapPeriod:
    return "monthly" if word.lower().startswith("month") else "daily"


def parse_limit(argument: str) -> LimitRequest | None:
    """`daily 2 usd`, `monthly $20`, `daily 50k tokens`, `daily off`, `off`; None if unclear."""
    text = " ".join(argument.split())
    if not text:
        return ShowCaps()
    off = _OFF_SYNTAX.match(text)
    if off:
        return SetCap(_period(off["period"]), None) if off["period"] else ClearCaps()
    match = _LIMIT_SYNTAX.match(text)
    if not match or not (match["dollar"] or match["unit"]):
        return None
    amount = float(match["amount"]) * {"k": 1e3, "m": 1e6}.get((match["suffix"] or "").lower(), 1)
    unit_word = (match["unit"] or "$").lower()
    unit: CapUnit = "tokens" if unit_word.startswith("token") else "usd"
    if match["dollar"] and unit == "tokens":
        return None
    if amount <= 0 or amount > 1e12:
        return None
    return SetCap(_period(match["period"]), Cap(amount, unit))


def parse_cap(period: CapPeriod, text: str) -> SetCap | None:
    """An admin's `2 usd`, `50k tokens` or `off` for one period; None when unclear."""
    request = parse_limit(f"{period} {text}")
    return request if isinstance(request, SetCap) else None


def describe_cap(cap: Cap) -> str:
    return f"${cap.amount:,.2f}" if cap.unit == "usd" else f"{int(cap.amount):,} tokens"


@dataclass(frozen=True, slots=True)
class CapWindow:
    start: datetime
    resets: datetime


def window(period: CapPeriod, now: datetime) -> CapWindow:
    if period == "daily":
        return CapWindow(day_start(now), next_day(now))
    return CapWindow(month_start(now), next_month(now))


def over_cap(cap: Cap, spend: Spend) -> bool:
    used = spend.cost_usd if cap.unit == "usd" else spend.tokens
    return used >= cap.amount


class Admission:
    """A granted turn; releasing it lets the member ask the next question."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


class MemberLimits:
    def __init__(
        self,
        *,
        store: Store,
        ledger: UsageLedger,
        max_concurrent: int,
        per_minute: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._max_concurrent = max_concurrent
        self._per_minute = per_minute
        self._monotonic = monotonic
        self._active: dict[Member, int] = {}
        self._recent: dict[Member, deque[float]] = {}
        self._admits_since_sweep = 0

    async def admit(
        self, member: Member, *, server: str, workspace_caps: Mapping[CapPeriod, Cap]
    ) -> Admission | str:
        """A granted turn, or the private reason it is refused, before any provider call."""
        # Checked and reserved with no await in between, so a burst cannot slip past.
        if self._active.get(member, 0) >= self._max_concurrent:
            return texts.STILL_ANSWERING
        now = self._monotonic()
        self._sweep(now)
        recent = self._recent.setdefault(member, deque())
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self._per_minute:
            return texts.too_many_requests(self._per_minute, 60 - (now - recent[0]))
        recent.append(now)
        self._active[member] = self._active.get(member, 0) + 1
        admission = Admission(lambda: self._leave(member))
        try:
            refusal = await self._cap_refusal(member, server, workspace_caps)
        except BaseException:
            admission.release()
            raise
        if refusal is not None:
            admission.release()
            recent.remove(now)
            return refusal
        return admission

    def _sweep(self, now: float) -> None:
        """Forget members who have not asked for a minute, so the table stays small."""
        self._admits_since_sweep += 1
        if self._admits_since_sweep < _SWEEP_EVERY:
            return
        self._admits_since_sweep = 0
        idle = [m for m, stamps in self._recent.items() if not stamps or now - stamps[-1] >= 60]
        for member in idle:
            del self._recent[member]

    def _leave(self, member: Member) -> None:
        remaining = self._active.get(member, 1) - 1
        if remaining:
            self._active[member] = remaining
        else:
            self._active.pop(member, None)

    async def _cap_refusal(
        self, member: Member, server: str, workspace_caps: Mapping[CapPeriod, Cap]
    ) -> str | None:
        now = self._ledger.now()
        checks: list[tuple[CapPeriod, Cap, str | None]] = [
            (period, cap, None) for period, cap in (await self._store.get_caps(member)).items()
        ]
        if server:
            checks += [(period, cap, server) for period, cap in workspace_caps.items()]
        for period, cap, cap_server in checks:
            span = window(period, now)
            spend = await self._ledger.spend(member, since=span.start, server=cap_server)
            if over_cap(cap, spend):
                return texts.cap_reached(
                    period, describe_cap(cap), span.resets, by_server=cap_server is not None
                )
        return None
