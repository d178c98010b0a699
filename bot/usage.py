"""The usage ledger: every provider call, written in batches off the answer's path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain import KeyUse, Member, ModelUsage, UsageRecord
from bot.ports import Store, StoreError
from bot.pricing import PriceTable

log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0
# While the database cannot be written, rows wait in memory up to this many; past it the
# oldest are dropped (and counted) rather than let a long outage exhaust the memory.
MAX_UNWRITTEN_ROWS = 100_000


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(moment: datetime) -> datetime:
    return day_start(moment).replace(day=1)


def next_day(moment: datetime) -> datetime:
    return day_start(moment) + timedelta(days=1)


def next_month(moment: datetime) -> datetime:
    start = month_start(moment)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


@dataclass(frozen=True, slots=True)
class Spend:
    prompt_tokens: int
    completion_tokens: int
    # The estimated cost of the priced models; the unpriced ones are not in it.
    cost_usd: float
    priced_models: tuple[str, ...]
    unpriced_models: tuple[str, ...]

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, usages: Sequence[ModelUsage], prices: PriceTable) -> Spend:
        """Totals and estimated cost; models used without any tokens count as neither."""
        cost = 0.0
        priced: list[str] = []
        unpriced: list[str] = []
        for usage in usages:
            if not usage.prompt_tokens and not usage.completion_tokens:
                continue
            price = prices.cost(usage.model, usage.prompt_tokens, usage.completion_tokens)
            if price is None:
                unpriced.append(usage.model)
            else:
                priced.append(usage.model)
                cost += price
        return cls(
            prompt_tokens=sum(u.prompt_tokens for u in usages),
            completion_tokens=sum(u.completion_tokens for u in usages),
            cost_usd=cost,
            priced_models=tuple(priced),
            unpriced_models=tuple(unpriced),
        )


class UsageLedger:
    """Buffers usage rows, and when each key was last used, and writes them once a second,
    so answers never wait on the disk.

    A crash loses at most the rows of the last interval; keys are written elsewhere, at once.
    While the database cannot be written the rows wait (bounded) and are tried again.
    """

    def __init__(
        self,
        *,
        store: Store,
        prices: PriceTable,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self._store = store
        self.prices = prices
        self._clock = clock
        self._flush_interval = flush_interval
        self._pending: list[UsageRecord] = []
        self._key_uses: dict[Member, KeyUse] = {}
        self.dropped_rows = 0
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    def now(self) -> datetime:
        return self._clock()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._flush_forever(), name="usage-ledger")

    @property
    def unwritten_rows(self) -> int:
        return len(self._pending)

    async def close(self) -> None:
        """Write what is left; if the database cannot take it, say how much was lost."""
        # Asked to stop, not cancelled: a cancel mid-write could leave a batch half-handled.
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self.flush()
        except StoreError as error:
            log.error(
                "%d usage rows could not be written before stopping: %s",
                self.unwritten_rows,
                error,
            )

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No batch is written while inside. Deleting a member's rows in here (after
        `discard`) cannot race a flush that had already taken some of theirs: it has ended,
        and a failed one has put them back where `discard` finds them."""
        async with self._flush_lock:
            yield

    def discard(
        self, *, member: Member | None = None, platform: str = "", workspace: str = ""
    ) -> None:
        """Drop rows not yet written, of one member or of one workspace, before their data is
        deleted: otherwise the next flush would write them back after /forget or an uninstall.
        Call it inside `paused`."""

        def forgotten(who: Member) -> bool:
            if member is not None:
                return who == member
            return (who.platform, who.workspace) == (platform, workspace)

        self._pending = [row for row in self._pending if not forgotten(row.member)]
        self._key_uses = {who: use for who, use in self._key_uses.items() if not forgotten(who)}

    def note_key_used(self, member: Member, key_id: str) -> None:
        """The key answered a turn; its `last used` time goes out with the next batch."""
        self._key_uses[member] = KeyUse(member, key_id, self._clock())

    def record(
        self,
        member: Member,
        *,
        server: str,
        model: str,
        outcome: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        self._pending.append(
            UsageRecord(
                member=member,
                server=server,
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                outcome=outcome,
                at=self._clock(),
            )
        )

    async def flush(self) -> None:
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            uses, self._key_uses = self._key_uses, {}
            try:
                await self._store.record_usage(batch, key_uses=list(uses.values()))
            except BaseException:
                self._pending[:0] = batch
                # A use noted meanwhile is newer than the one that failed.
                self._key_uses = {**uses, **self._key_uses}
                self._bound()
                raise

    def _bound(self) -> None:
        excess = len(self._pending) - MAX_UNWRITTEN_ROWS
        if excess > 0:
            del self._pending[:excess]
            self.dropped_rows += excess
            log.error(
                "dropped the %d oldest usage rows: the database has refused writes too long",
                excess,
            )

    async def _flush_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._flush_interval)
            try:
                await self.flush()
            except StoreError as error:
                log.warning(
                    "%d usage rows wait to be written (%s); trying again",
                    self.unwritten_rows,
                    error,
                )
            except Exception:
                log.exception("writing usage rows failed; will retry")

    async def by_model(
        self, member: Member, *, since: datetime, server: str | None = None
    ) -> list[ModelUsage]:
        """Stored rows plus the ones still waiting to be written."""
        totals = {
            usage.model: usage
            for usage in await self._store.usage_by_model(member, since=since, server=server)
        }
        for row in list(self._pending):
            if (
                row.member != member
                or row.at < since
                or (server is not None and row.server != server)
            ):
                continue
            before = totals.get(row.model, ModelUsage(row.model, 0, 0, 0))
            totals[row.model] = ModelUsage(
                row.model,
                before.prompt_tokens + row.prompt_tokens,
                before.completion_tokens + row.completion_tokens,
                before.calls + 1,
            )
        return sorted(totals.values(), key=lambda usage: usage.model)

    async def spend(self, member: Member, *, since: datetime, server: str | None = None) -> Spend:
        return Spend.of(await self.by_model(member, since=since, server=server), self.prices)
