"""Where the database is: the storage group of the settings."""

from __future__ import annotations

from pydantic import Field

from bot.settings import SettingsGroup


class StorageSettings(SettingsGroup):
    database_url: str = Field(
        default="sqlite:///data/byok-bot.sqlite3", validation_alias="DATABASE_URL"
    )
