"""Every table byok-bot keeps, described once for both engines, so `byok-bot copy-db` can
move rows between them without either engine knowing the other.

A row travels as a tuple of plain values in the order of its table's columns: text as str,
`time` and `seconds` as an aware datetime (SQLite keeps the first as ISO text, the second as
seconds since the epoch; PostgreSQL both as timestamptz), `flag` as bool, `list` as a list
of str and `object` as what JSON decodes to, `bytes` exactly as stored (sealed keys are
copied as ciphertext, never opened). Each engine turns these into its own column types and
back.

tests/test_copy_db.py fails when a migration adds a table or a column that is not here
(or in NOT_COPIED), so a new table cannot be silently left behind by a copy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

ColumnKind = Literal[
    "text", "integer", "real", "bytes", "time", "seconds", "flag", "list", "object"
]
Row = tuple[object, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    name: str
    columns: tuple[tuple[str, ColumnKind], ...]
    # A column the database numbers by itself: copied as it is, and the engine's counter is
    # moved past the highest copied so the next row does not collide with one.
    identity: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


_MEMBER: tuple[tuple[str, ColumnKind], ...] = (
    ("platform", "text"),
    ("workspace", "text"),
    ("user_id", "text"),
)

# In the order they are copied.
TABLES: tuple[Table, ...] = (
    Table(
        name="member_keys",
        columns=(
            *_MEMBER,
            ("provider", "text"),
            ("key_id", "text"),
            ("sealed", "bytes"),
            ("masked", "text"),
            ("status", "text"),
            ("set_at", "time"),
            ("validated_at", "time"),
            ("last_used_at", "time"),
        ),
    ),
    # Copied with the keys they sealed: the target then refuses a wrong master key at
    # start-up exactly as the source did.
    Table(name="master_key_fingerprints", columns=(("fingerprint", "text"),)),
    Table(name="member_prefs", columns=(*_MEMBER, ("model", "text"), ("instructions", "text"))),
    Table(
        name="member_caps",
        columns=(*_MEMBER, ("period", "text"), ("unit", "text"), ("amount", "real")),
    ),
    Table(
        name="workspace_config",
        columns=(
            ("platform", "text"),
            ("workspace", "text"),
            ("allowed_channels", "list"),
            ("default_model", "text"),
            ("threaded", "flag"),
            ("member_caps", "object"),
            ("system_prompt", "text"),
            ("channel_prompts", "object"),
        ),
    ),
    Table(
        name="usage_events",
        columns=(
            ("id", "integer"),
            *_MEMBER,
            ("server", "text"),
            ("model", "text"),
            ("prompt_tokens", "integer"),
            ("completion_tokens", "integer"),
            ("outcome", "text"),
            ("at", "time"),
        ),
        identity="id",
    ),
    Table(
        name="audit_events",
        columns=(
            ("id", "integer"),
            ("at", "time"),
            *_MEMBER,
            ("event", "text"),
            ("outcome", "text"),
            ("place", "text"),
        ),
        identity="id",
    ),
    # Copied sealed, never opened: the target serves every installed workspace with the same
    # master keys.
    Table(
        name="installations",
        columns=(
            ("platform", "text"),
            ("org", "text"),
            ("workspace", "text"),
            ("user_id", "text"),
            ("sealed", "bytes"),
            ("installed_at", "time"),
        ),
    ),
    # An install begun before the move can be finished after it.
    Table(
        name="oauth_states",
        columns=(("state", "text"), ("expires_at", "seconds")),
    ),
    # The state processes share is copied too, so its promises hold across the move: an
    # event answered before it is not answered again after it, and key-check tries still
    # count. Every row expires by itself; a lease of a stopped process frees its slot then.
    Table(
        name="once_tokens",
        columns=(("token", "text"), ("expires_at", "seconds")),
    ),
    Table(
        name="rate_attempts",
        columns=(("bucket", "text"), ("at", "seconds"), ("expires_at", "seconds")),
    ),
    Table(
        name="turn_leases",
        columns=(("bucket", "text"), ("holder", "text"), ("expires_at", "seconds")),
    ),
)

# Tables every engine has that are not copied, and why.
NOT_COPIED: dict[str, str] = {
    "schema_version": "the target is migrated to this code's schema before the copy, and the"
    " source must be at that same version",
}


class RowReader(Protocol):
    def rows(self, table: Table) -> AsyncIterator[Sequence[Row]]:
        """The table's rows in batches."""
        ...

    async def count(self, table: Table) -> int: ...


class RowWriter(Protocol):
    async def count(self, table: Table) -> int: ...

    async def clear(self, table: Table) -> None: ...

    async def insert(self, table: Table, rows: Sequence[Row]) -> None: ...


class RowSource(Protocol):
    def reading(self) -> AbstractAsyncContextManager[RowReader]:
        """One consistent snapshot of every table: a bot writing to the source meanwhile
        changes nothing the copy sees."""
        ...


class RowTarget(Protocol):
    def writing(self) -> AbstractAsyncContextManager[RowWriter]:
        """One transaction: every row lands, or none does. It raises StoreError after
        rolling back when the database refuses a row."""
        ...
