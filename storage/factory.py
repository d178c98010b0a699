"""Pick the Store engine from DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

from bot.ports import Store
from storage.settings import StorageSettings
from storage.sqlite import SqliteStore


class StorageConfigError(Exception):
    """DATABASE_URL names something this build cannot open."""


def sqlite_path(database_url: str) -> Path:
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise StorageConfigError(
            "DATABASE_URL: only sqlite:///PATH is supported so far (PostgreSQL support is planned)"
        )
    path = database_url[len(prefix) :]
    if not path:
        raise StorageConfigError("DATABASE_URL: sqlite:/// needs a file path")
    return Path(path)


async def open_store(settings: StorageSettings) -> Store:
    return await SqliteStore.open(sqlite_path(settings.database_url))
