"""State every process shares: attempt windows, answer-once tokens and leases on turns.

Each change is one ephemeral write transaction, run whole in the connection's thread (see
SqliteConnection._in_one_hop): SQLite's one writer at a time is what makes a check and the
change it decides atomic, here and across processes sharing the file. Times are seconds
since the epoch (REAL), so comparing them is comparing numbers."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.ports import Lease, RateRefusal, RateWindow, SlotsTaken
from storage.sqlite.connection import SqliteConnection

# Expired rows of every bucket are deleted at most this often by one process; between
# sweeps a bucket's own expired rows are skipped by every query, so they cost nothing.
SWEEP_EVERY = timedelta(minutes=1)


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _full_window(
    db: sqlite3.Connection, windows: Sequence[RateWindow], now: datetime
) -> RateRefusal | None:
    for window in windows:
        # The `limit`-th newest attempt still inside the span: when there is one, the
        # window is full, and it has room again once that attempt leaves the span.
        row = db.execute(
            "SELECT at FROM rate_attempts WHERE bucket = ? AND at > ?"
            " ORDER BY at DESC LIMIT 1 OFFSET ?",
            (window.bucket, _seconds(now - window.span), window.limit - 1),
        ).fetchone()
        if row is not None:
            frees = float(row[0]) + window.span.total_seconds()
            return RateRefusal(window, timedelta(seconds=max(frees - _seconds(now), 0.0)))
    return None


def _count(db: sqlite3.Connection, windows: Sequence[RateWindow], now: datetime) -> None:
    db.executemany(
        "INSERT INTO rate_attempts (bucket, at, expires_at) VALUES (?, ?, ?)",
        [(w.bucket, _seconds(now), _seconds(now + w.span)) for w in windows],
    )


class SharedStateRows(SqliteConnection):
    async def attempt(self, windows: Sequence[RateWindow], now: datetime) -> RateRefusal | None:
        sweep = self._sweep_due(now)

        def work(db: sqlite3.Connection) -> RateRefusal | None:
            _sweep(db, now, sweep)
            refusal = _full_window(db, windows, now)
            if refusal is None:
                _count(db, windows, now)
            return refusal

        return await self._in_one_hop(work)

    async def first_time(self, token: str, *, now: datetime, until: datetime) -> bool:
        sweep = self._sweep_due(now)

        def work(db: sqlite3.Connection) -> bool:
            _sweep(db, now, sweep)
            # The unique token decides: inserted, or taken over once expired, means first.
            cursor = db.execute(
                "INSERT INTO once_tokens (token, expires_at) VALUES (?, ?)"
                " ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE once_tokens.expires_at <= ?",
                (token, _seconds(until), _seconds(now)),
            )
            return cursor.rowcount == 1

        return await self._in_one_hop(work)

    async def take_lease(
        self,
        lease: Lease,
        *,
        windows: Sequence[RateWindow] = (),
        now: datetime,
        until: datetime,
    ) -> SlotsTaken | RateRefusal | None:
        sweep = self._sweep_due(now)

        def work(db: sqlite3.Connection) -> SlotsTaken | RateRefusal | None:
            _sweep(db, now, sweep)
            # A dead process's leases end here, for this bucket, whether a sweep is due or not.
            db.execute(
                "DELETE FROM turn_leases WHERE bucket = ? AND expires_at <= ?",
                (lease.bucket, _seconds(now)),
            )
            (held,) = db.execute(
                "SELECT COUNT(*) FROM turn_leases WHERE bucket = ?", (lease.bucket,)
            ).fetchone()
            if int(held) >= lease.limit:
                return SlotsTaken(lease)
            refusal = _full_window(db, windows, now)
            if refusal is not None:
                return refusal
            _count(db, windows, now)
            db.execute(
                "INSERT INTO turn_leases (bucket, holder, expires_at) VALUES (?, ?, ?)",
                (lease.bucket, lease.holder, _seconds(until)),
            )
            return None

        # A take cancelled while its transaction runs may still commit: that slot then frees
        # itself when the lease expires (TURN_LEASE), as for a process that died mid-turn.
        return await self._in_one_hop(work)

    async def renew_lease(self, lease: Lease, *, now: datetime, until: datetime) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE turn_leases SET expires_at = ?"
                " WHERE bucket = ? AND holder = ? AND expires_at > ?",
                (_seconds(until), lease.bucket, lease.holder, _seconds(now)),
            )
            return cursor.rowcount == 1

        return await self._in_one_hop(work)

    async def release_lease(self, lease: Lease) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM turn_leases WHERE bucket = ? AND holder = ?",
                (lease.bucket, lease.holder),
            )

        await self._in_one_hop(work)

    def _sweep_due(self, now: datetime) -> bool:
        """Whether this process sweeps expired shared state now: at most once per
        SWEEP_EVERY, so the tables stay bounded by recent traffic (members who never come
        back included) without every transaction paying for it."""
        moment = _seconds(now)
        if moment < self._next_state_sweep:
            return False
        self._next_state_sweep = moment + SWEEP_EVERY.total_seconds()
        return True


def _sweep(db: sqlite3.Connection, now: datetime, due: bool) -> None:
    if due:
        for table in ("rate_attempts", "once_tokens", "turn_leases"):
            db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (_seconds(now),))  # noqa: S608
