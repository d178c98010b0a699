"""Fair limits: answers in flight and questions per minute per member (shared by every
process through the Store), and spending caps."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot import texts
from bot.domain import Cap, CapPeriod, CapUnit, Member
from bot.ports import Lease, RateRefusal, RateWindow, SlotsTaken, Store, StoreError
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

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
# How long a turn's slot stays taken without a renewal (BYOK_TURN_LEASE_SECONDS). Renewed
# every third of it, so a turn survives two failed renewals in a row (a database failover,
# a stalled event loop); a process killed mid-turn holds its member for at most this long.
TURN_LEASE = timedelta(seconds=30)


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
    """A granted turn, holding a lease on one of the member's slots. The lease is renewed
    while the turn runs, every third of its length (so two renewals in a row may fail
    before it lapses), and `release` frees the slot at once. A process that dies mid-turn
    renews nothing: the slot frees itself when the lease expires.

    Most turns end before their first renewal is due, so a renewal is a timer until then,
    not a task: the turn's path creates and cancels nothing it does not use."""

    def __init__(
        self, *, store: Store, lease: Lease, lease_for: timedelta, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._lease = lease
        self._lease_for = lease_for
        self._clock = clock
        self._released = False
        self._renewal: asyncio.Task[None] | None = None
        self._timer = self._renew_later()

    def _renew_later(self) -> asyncio.TimerHandle:
        every = self._lease_for.total_seconds() / 3
        return asyncio.get_running_loop().call_later(every, self._start_renewal)

    def _start_renewal(self) -> None:
        if not self._released:
            self._renewal = asyncio.create_task(self._renew(), name="turn-lease")

    async def _renew(self) -> None:
        now = self._clock()
        try:
            held = await self._store.renew_lease(self._lease, now=now, until=now + self._lease_for)
        except StoreError:
            log.warning("a turn's lease could not be renewed; trying again", exc_info=True)
            held = True
        if not held:
            # The turn outlived its lease (renewals kept failing): another turn may
            # take the slot meanwhile. This one is already paid for, so it finishes.
            log.warning("a turn's lease expired before it could be renewed")
            return
        if not self._released:
            self._timer = self._renew_later()

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._timer.cancel()
        if self._renewal is not None:
            self._renewal.cancel()
        try:
            await self._store.release_lease(self._lease)
        except StoreError:
            log.warning(
                "a turn's lease could not be released; its slot frees itself when it expires",
                exc_info=True,
            )


class MemberLimits:
    """Answers in flight and questions per minute per member, kept in the Store so every
    process shares them; spending caps, counted from usage every process recorded."""

    def __init__(
        self,
        *,
        store: Store,
        ledger: UsageLedger,
        max_concurrent: int,
        per_minute: int,
        lease_for: timedelta = TURN_LEASE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._max_concurrent = max_concurrent
        self._per_minute = per_minute
        self._lease_for = lease_for
        self._clock = clock

    async def admit(
        self,
        member: Member,
        *,
        server: str,
        member_caps: Mapping[CapPeriod, Cap],
        workspace_caps: Mapping[CapPeriod, Cap],
    ) -> Admission | str:
        """A granted turn, or the private reason it is refused, before any provider call.

        The caps came with the turn's context; spending is read only when there is a cap to
        hold it against. Then the slot and the minute's window are checked and taken in one
        Store transaction, the turn's only write before its answer."""
        refusal = await self._cap_refusal(member, server, member_caps, workspace_caps)
        if refusal is not None:
            return refusal
        lease = Lease(
            bucket=f"turns:{member}", holder=secrets.token_hex(16), limit=self._max_concurrent
        )
        window = RateWindow(f"questions:{member}", self._per_minute, MINUTE)
        now = self._clock()
        outcome = await self._store.take_lease(
            lease, windows=[window], now=now, until=now + self._lease_for
        )
        if isinstance(outcome, SlotsTaken):
            return texts.STILL_ANSWERING
        if isinstance(outcome, RateRefusal):
            return texts.too_many_requests(self._per_minute, outcome.retry_in.total_seconds())
        return Admission(
            store=self._store, lease=lease, lease_for=self._lease_for, clock=self._clock
        )

    async def _cap_refusal(
        self,
        member: Member,
        server: str,
        member_caps: Mapping[CapPeriod, Cap],
        workspace_caps: Mapping[CapPeriod, Cap],
    ) -> str | None:
        now = self._ledger.now()
        checks: list[tuple[CapPeriod, Cap, str | None]] = [
            (period, cap, None) for period, cap in member_caps.items()
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
