"""The PostgreSQL Store: one class per group of tables, joined over one shared pool, for
many processes sharing one database."""

from __future__ import annotations

from storage.postgres.audit import AuditRows
from storage.postgres.connection import migrations
from storage.postgres.installations import InstallationRows
from storage.postgres.keys import KeyRows
from storage.postgres.rows import RowCopy
from storage.postgres.shared import SharedStateRows
from storage.postgres.spending import SpendingRows
from storage.postgres.turns import TurnRows
from storage.postgres.workspaces import WorkspaceRows

__all__ = ["PostgresStore", "migrations"]


class PostgresStore(
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
    PostgreSQL."""
