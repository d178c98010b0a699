"""A Store that fails on purpose: the real engine underneath, with chosen calls raising the
StoreError an engine raises for a full disk, a locked file, an I/O error or a lost
connection, so every path that writes can be driven through its failure."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from bot.ports import Store, StoreError

WRITES = frozenset(
    {
        "save_key",
        "mark_key_validated",
        "mark_key_invalid",
        "mark_key_used",
        "delete_key",
        "set_model",
        "set_instructions",
        "forget_member",
        "reseal_all",
        "record_usage",
        "set_cap",
        "record_audit",
        "save_workspace_config",
        "delete_workspace",
        "save_installation",
        "delete_installations",
    }
)
# The state every process shares: short-lived, on a turn's path (a lease taken and released)
# or an install's (its state), counted apart so the durable writes above can be driven one by
# one.
STATE_WRITES = frozenset(
    {
        "attempt",
        "first_time",
        "take_lease",
        "renew_lease",
        "release_lease",
        "issue_oauth_state",
        "consume_oauth_state",
    }
)
CAUSES: dict[str, Callable[[], BaseException]] = {
    "disk full": lambda: sqlite3.OperationalError("database or disk is full"),
    "locked": lambda: sqlite3.OperationalError("database is locked"),
    "i/o error": lambda: sqlite3.OperationalError("disk I/O error"),
    "connection lost": lambda: ConnectionResetError("connection was closed in the middle"),
}


class FailingStore:
    """Delegates to `store`; `fail_write(n)` makes the n-th durable write from now fail,
    `fail_writes` every durable write, `fail_state` every write of shared state (leases,
    attempts, answer-once tokens), `fail_reads` every read."""

    def __init__(self, store: Store, *, cause: str = "disk full") -> None:
        self._store = store
        self.cause = cause
        self.writes = 0
        self.state_writes = 0
        self.failed: list[str] = []
        self._fail_at: int | None = None
        self.fail_writes = False
        self.fail_state = False
        self.fail_reads = False

    def fail_write(self, n: int) -> None:
        self._fail_at = self.writes + n

    def heal(self) -> None:
        self._fail_at = None
        self.fail_writes = self.fail_state = self.fail_reads = False

    def _should_fail(self, name: str) -> bool:
        if name == "close":
            return False
        if name in STATE_WRITES:
            self.state_writes += 1
            return self.fail_state
        if name not in WRITES:
            return self.fail_reads
        self.writes += 1
        return self.fail_writes or self.writes == self._fail_at

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._store, name)
        if not callable(real):
            return real

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self._should_fail(name):
                self.failed.append(name)
                cause = CAUSES[self.cause]()
                raise StoreError(f"database write failed: {cause}") from cause
            return await real(*args, **kwargs)

        return call
