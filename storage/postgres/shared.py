"""State every process shares: attempt windows, answer-once tokens and leases on turns.

A check and the change it decides are one transaction holding an advisory lock on each
bucket involved (`pg_advisory_xact_lock`, released at commit), so two processes counting
the same member's turns take turns; "answer once" needs no lock, the token's primary key
decides. Other buckets are never held up."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.ports import Lease, RateRefusal, RateWindow, SlotsTaken
from storage.postgres.connection import PostgresConnection, affected, utc

if TYPE_CHECKING:
    from storage.postgres.connection import Connection

# Expired rows of every bucket are deleted at most this often by one process; between
# sweeps a bucket's own expired rows are skipped by every query, so they cost nothing.
SWEEP_EVERY = timedelta(minutes=1)
# Rows deleted per table and sweep, so one sweep stays a short statement; a backlog goes
# over the next sweeps.
SWEEP_BATCH = 10_000


def lock_keys(buckets: Sequence[str]) -> list[int]:
    """The advisory lock of each bucket, in ascending order: every transaction takes its locks
    in that one order, so two of them can never wait on each other. A stable hash, the same
    in every process (Python's own hash() is salted per process)."""
    return sorted(
        {
            int.from_bytes(
                hashlib.blake2b(bucket.encode(), digest_size=8).digest(), "big", signed=True
            )
            for bucket in buckets
        }
    )


async def _lock(db: Connection, buckets: Sequence[str]) -> None:
    # unnest yields the array in order, and each row's lock is taken as it is read.
    await db.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k", lock_keys(buckets)
    )


async def _full_window(
    db: Connection, windows: Sequence[RateWindow], now: datetime
) -> RateRefusal | None:
    for window in windows:
        # The `limit`-th newest attempt still inside the span: when there is one, the
        # window is full, and it has room again once that attempt leaves the span.
        oldest_in_the_way = await db.fetchval(
            "SELECT at FROM rate_attempts WHERE bucket = $1 AND at > $2"
            " ORDER BY at DESC OFFSET $3 LIMIT 1",
            window.bucket,
            utc(now - window.span),
            window.limit - 1,
        )
        if oldest_in_the_way is not None:
            frees: datetime = oldest_in_the_way + window.span
            return RateRefusal(window, max(frees - now, timedelta(0)))
    return None


async def _count(db: Connection, windows: Sequence[RateWindow], now: datetime) -> None:
    await db.executemany(
        "INSERT INTO rate_attempts (bucket, at, expires_at) VALUES ($1, $2, $3)",
        [(w.bucket, utc(now), utc(now + w.span)) for w in windows],
    )


class SharedStateRows(PostgresConnection):
    async def attempt(self, windows: Sequence[RateWindow], now: datetime) -> RateRefusal | None:
        await self._sweep_if_due(now)
        async with self._transaction() as db:
            await _lock(db, [w.bucket for w in windows])
            refusal = await _full_window(db, windows, now)
            if refusal is None:
                await _count(db, windows, now)
        return refusal

    async def first_time(self, token: str, *, now: datetime, until: datetime) -> bool:
        await self._sweep_if_due(now)
        async with self._transaction() as db:
            # The unique token decides: inserted, or taken over once expired, means first.
            status = await db.execute(
                "INSERT INTO once_tokens (token, expires_at) VALUES ($1, $2)"
                " ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE once_tokens.expires_at <= $3",
                token,
                utc(until),
                utc(now),
            )
        return affected(status) == 1

    async def take_lease(
        self,
        lease: Lease,
        *,
        windows: Sequence[RateWindow] = (),
        now: datetime,
        until: datetime,
    ) -> SlotsTaken | RateRefusal | None:
        await self._sweep_if_due(now)
        # One call, one round trip: see migration 0004 (byok_take_lease) for the steps.
        row = await self._write_returning(
            "SELECT refused, refused_window, frees_at"
            " FROM byok_take_lease($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            lock_keys([lease.bucket, *(w.bucket for w in windows)]),
            lease.bucket,
            lease.holder,
            lease.limit,
            utc(until),
            utc(now),
            [w.bucket for w in windows],
            [w.limit for w in windows],
            [w.span for w in windows],
        )
        assert row is not None
        if row["refused"] == "slots":
            return SlotsTaken(lease)
        if row["refused"] == "window":
            frees: datetime = row["frees_at"]
            return RateRefusal(windows[row["refused_window"]], max(frees - now, timedelta(0)))
        return None

    # Renewing and releasing are one call each, one round trip (migration 0004).
    async def renew_lease(self, lease: Lease, *, now: datetime, until: datetime) -> bool:
        row = await self._write_returning(
            "SELECT byok_renew_lease($1, $2, $3, $4) AS renewed",
            lease.bucket,
            lease.holder,
            utc(until),
            utc(now),
        )
        return row is not None and bool(row["renewed"])

    async def release_lease(self, lease: Lease) -> None:
        await self._write_returning("SELECT byok_release_lease($1, $2)", lease.bucket, lease.holder)

    async def _sweep_if_due(self, now: datetime) -> None:
        """Delete expired rows, at most once per SWEEP_EVERY per process, so the tables stay
        bounded by recent traffic (members who never come back included).

        Its own transaction, before the caller's, skipping rows another transaction has
        locked: it never waits, so it can never be half of a deadlock with a transaction
        that holds a bucket's lock and deletes that bucket's expired rows."""
        if self._next_state_sweep is not None and now < self._next_state_sweep:
            return
        self._next_state_sweep = now + SWEEP_EVERY
        async with self._transaction() as db:
            for table in ("rate_attempts", "once_tokens", "turn_leases"):
                await db.execute(
                    f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table}"  # noqa: S608
                    f" WHERE expires_at <= $1 LIMIT {SWEEP_BATCH} FOR UPDATE SKIP LOCKED)",
                    utc(now),
                )
