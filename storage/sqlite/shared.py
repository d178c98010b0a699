"""State every process shares: attempt windows, answer-once tokens and leases on turns.

Each change is one ephemeral write transaction (see SqliteConnection._transaction): SQLite's
one writer at a time is what makes a check and the change it decides atomic, here and
across processes sharing the file. Times are seconds since the epoch (REAL), so comparing
them is comparing numbers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import aiosqlite

from bot.ports import Lease, RateRefusal, RateWindow, SlotsTaken
from storage.sqlite.connection import SqliteConnection

# Expired rows of every bucket are deleted at most this often by one process; between
# sweeps a bucket's own expired rows are skipped by every query, so they cost nothing.
SWEEP_EVERY = timedelta(minutes=1)


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


async def _full_window(
    db: aiosqlite.Connection, windows: Sequence[RateWindow], now: datetime
) -> RateRefusal | None:
    for window in windows:
        # The `limit`-th newest attempt still inside the span: when there is one, the
        # window is full, and it has room again once that attempt leaves the span.
        rows = list(
            await db.execute_fetchall(
                "SELECT at FROM rate_attempts WHERE bucket = ? AND at > ?"
                " ORDER BY at DESC LIMIT 1 OFFSET ?",
                (window.bucket, _seconds(now - window.span), window.limit - 1),
            )
        )
        if rows:
            frees = float(rows[0][0]) + window.span.total_seconds()
            return RateRefusal(window, timedelta(seconds=max(frees - _seconds(now), 0.0)))
    return None


async def _count(db: aiosqlite.Connection, windows: Sequence[RateWindow], now: datetime) -> None:
    await db.executemany(
        "INSERT INTO rate_attempts (bucket, at, expires_at) VALUES (?, ?, ?)",
        [(w.bucket, _seconds(now), _seconds(now + w.span)) for w in windows],
    )


class SharedStateRows(SqliteConnection):
    async def attempt(self, windows: Sequence[RateWindow], now: datetime) -> RateRefusal | None:
        async with self._transaction(ephemeral=True) as db:
            await self._sweep_if_due(db, now)
            refusal = await _full_window(db, windows, now)
            if refusal is None:
                await _count(db, windows, now)
        return refusal

    async def first_time(self, token: str, *, now: datetime, until: datetime) -> bool:
        async with self._transaction(ephemeral=True) as db:
            await self._sweep_if_due(db, now)
            # The unique token decides: inserted, or taken over once expired, means first.
            cursor = await db.execute(
                "INSERT INTO once_tokens (token, expires_at) VALUES (?, ?)"
                " ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE once_tokens.expires_at <= ?",
                (token, _seconds(until), _seconds(now)),
            )
            first = cursor.rowcount == 1
        return first

    async def take_lease(
        self,
        lease: Lease,
        *,
        windows: Sequence[RateWindow] = (),
        now: datetime,
        until: datetime,
    ) -> SlotsTaken | RateRefusal | None:
        async with self._transaction(ephemeral=True) as db:
            await self._sweep_if_due(db, now)
            # A dead process's leases end here, for this bucket, whenever a sweep is due or not.
            await db.execute(
                "DELETE FROM turn_leases WHERE bucket = ? AND expires_at <= ?",
                (lease.bucket, _seconds(now)),
            )
            rows = list(
                await db.execute_fetchall(
                    "SELECT COUNT(*) FROM turn_leases WHERE bucket = ?", (lease.bucket,)
                )
            )
            if int(rows[0][0]) >= lease.limit:
                return SlotsTaken(lease)
            refusal = await _full_window(db, windows, now)
            if refusal is not None:
                return refusal
            await _count(db, windows, now)
            await db.execute(
                "INSERT INTO turn_leases (bucket, holder, expires_at) VALUES (?, ?, ?)",
                (lease.bucket, lease.holder, _seconds(until)),
            )
        return None

    async def renew_lease(self, lease: Lease, *, now: datetime, until: datetime) -> bool:
        async with self._transaction(ephemeral=True) as db:
            cursor = await db.execute(
                "UPDATE turn_leases SET expires_at = ?"
                " WHERE bucket = ? AND holder = ? AND expires_at > ?",
                (_seconds(until), lease.bucket, lease.holder, _seconds(now)),
            )
            renewed = cursor.rowcount == 1
        return renewed

    async def release_lease(self, lease: Lease) -> None:
        async with self._transaction(ephemeral=True) as db:
            await db.execute(
                "DELETE FROM turn_leases WHERE bucket = ? AND holder = ?",
                (lease.bucket, lease.holder),
            )

    async def _sweep_if_due(self, db: aiosqlite.Connection, now: datetime) -> None:
        """Delete every expired row, at most once per SWEEP_EVERY, so the tables stay
        bounded by recent traffic (members who never come back included)."""
        moment = _seconds(now)
        if moment < self._next_state_sweep:
            return
        self._next_state_sweep = moment + SWEEP_EVERY.total_seconds()
        for table in ("rate_attempts", "once_tokens", "turn_leases"):
            await db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (moment,))  # noqa: S608
