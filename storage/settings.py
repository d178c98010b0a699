"""Where the database is: the storage group of the settings."""

from __future__ import annotations

from pydantic import Field

from bot.settings import SettingsGroup


class StorageSettings(SettingsGroup):
    # A PostgreSQL URL may carry a password: it stays out of every repr of the settings.
    database_url: str = Field(
        default="sqlite:///data/byok-bot.sqlite3", validation_alias="DATABASE_URL", repr=False
    )
    # Connections one process may hold to PostgreSQL. Five serve one busy process (a turn
    # holds a connection only for a statement or a short transaction); every process has its
    # own pool, so processes x pool size must stay under the server's max_connections.
    # SQLite ignores it: one connection writes there.
    db_pool_size: int = Field(default=5, ge=1, le=100, validation_alias="BYOK_DB_POOL_SIZE")
