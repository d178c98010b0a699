"""The SQLite Store: one class per group of tables, joined over one shared connection."""

from __future__ import annotations

from storage.sqlite.audit import AuditRows
from storage.sqlite.connection import migrations
from storage.sqlite.installations import InstallationRows
from storage.sqlite.keys import KeyRows
from storage.sqlite.rows import RowCopy
from storage.sqlite.shared import SharedStateRows
from storage.sqlite.spending import SpendingRows
from storage.sqlite.turns import TurnRows
from storage.sqlite.workspaces import WorkspaceRows

__all__ = ["SqliteStore", "migrations"]


class SqliteStore(
    KeyRows,
    SpendingRows,
    AuditRows,
    WorkspaceRows,
    SharedStateRows,
    InstallationRows,
    TurnRows,
    RowCopy,
):
    """Every method of the Store protocol, and whole tables in and out for copy-db, on
    SQLite."""
