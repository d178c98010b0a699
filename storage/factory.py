"""Pick the Store engine from DATABASE_URL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.ports import Store, StoreError
from storage.errors import StorageConfigError
from storage.postgres import PostgresStore
from storage.settings import StorageSettings
from storage.sqlite import SqliteStore

__all__ = ["POSTGRES_SCHEMES", "SQLITE_PREFIX", "StorageConfigError", "open_store", "sqlite_path"]

SQLITE_PREFIX = "sqlite:///"
# What SQLite answers when the file is there but is no database it can use.
_NOT_A_DATABASE = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})

# The two spellings libpq (and so asyncpg) accepts.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def sqlite_path(database_url: str) -> Path:
    """The file a `sqlite:///PATH` URL names; refused unless PATH is a plain file path."""
    if not database_url.startswith(SQLITE_PREFIX):
        raise StorageConfigError(
            "DATABASE_URL: use sqlite:///PATH (one process) or"
            " postgresql://USER:PASSWORD@HOST:PORT/DATABASE (many processes)"
        )
    path = database_url[len(SQLITE_PREFIX) :]
    if not path:
        raise StorageConfigError("DATABASE_URL: sqlite:/// needs a file path")
    # SQLite is built to read a name starting with `file:` as a URI: `?mode=memory` would keep
    # every key in memory only, and other options choose files the modes below never reach.
    # A query on a plain path would silently become part of the file's name instead.
    if path.lower().startswith("file:") or "?" in path or path == ":memory:":
        raise StorageConfigError(
            "DATABASE_URL: must name a plain file path, e.g. sqlite:///data/byok-bot.sqlite3 "
            "(SQLite URIs, ?options and in-memory databases are refused)"
        )
    return Path(path)


async def open_store(settings: StorageSettings) -> Store:
    """The Store DATABASE_URL names, migrated; anything that stops it from opening is a
    StorageConfigError, one line naming DATABASE_URL, for the operator to act on."""
    if settings.database_url.startswith(POSTGRES_SCHEMES):
        return await PostgresStore.open(url=settings.database_url, pool_size=settings.db_pool_size)
    path = sqlite_path(settings.database_url)
    try:
        return await SqliteStore.open(path)
    except (sqlite3.Error, OSError, StoreError) as error:
        cause = error.__cause__ if isinstance(error, StoreError) else error
        raise StorageConfigError(f"DATABASE_URL: {_why_not(path, cause)}") from None


def _why_not(path: Path, error: BaseException | None) -> str:
    if isinstance(error, sqlite3.Error) and error.sqlite_errorname in _NOT_A_DATABASE:
        return (
            f"{path} is not an SQLite database ({error}); "
            "point it at a new file or at byok-bot's database"
        )
    if isinstance(error, OSError):
        # The database's folder or file cannot be created or made private.
        return f"cannot prepare {error.filename or path}: {error.strerror or error}"
    return (
        f"cannot open {path} ({error}); check that its folder is writable by this user "
        "and that the disk has room"
    )
