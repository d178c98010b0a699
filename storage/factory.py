"""Pick the Store engine from DATABASE_URL, open it, and migrate it when asked to."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.ports import Store, StoreError
from storage.errors import StorageConfigError
from storage.postgres import PostgresStore
from storage.postgres.connection import describe
from storage.schema import DEFAULT_SETTING, SchemaChange
from storage.settings import StorageSettings
from storage.sqlite import SqliteStore
from storage.sqlite.connection import DATABASE_FILES

__all__ = [
    "POSTGRES_SCHEMES",
    "SQLITE_PREFIX",
    "Database",
    "StorageConfigError",
    "migrate_database",
    "open_engine",
    "open_store",
    "sqlite_path",
]

log = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"
# What SQLite answers when the file is there but is no database it can use.
_NOT_A_DATABASE = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})

# The two spellings libpq (and so asyncpg) accepts.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True, kw_only=True)
class Database:
    """A database URL, and what the operator calls it: every line about it starts with
    that name (DATABASE_URL, or copy-db's --from and --to), so they know which to fix."""

    url: str
    setting: str = DEFAULT_SETTING
    pool_size: int = 5

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> Database:
        return cls(url=settings.database_url, pool_size=settings.db_pool_size)

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(POSTGRES_SCHEMES)

    def sqlite_files(self) -> list[Path] | None:
        """The SQLite file and its companions (WAL, shared memory, journal); None for
        PostgreSQL."""
        if self.is_postgres:
            return None
        path = sqlite_path(self.url, setting=self.setting)
        return [Path(f"{path}{suffix}") for suffix in DATABASE_FILES]

    def is_new(self) -> bool:
        """No SQLite file yet (PostgreSQL databases are made by the operator, never new)."""
        files = self.sqlite_files()
        return files is not None and not files[0].exists()

    def describe(self) -> str:
        """Where it is, for an operator to read; never the password."""
        if self.is_postgres:
            where, database, _ = describe(self.url)
            return f"PostgreSQL database {database} at {where}"
        return f"SQLite file {sqlite_path(self.url, setting=self.setting)}"


def sqlite_path(database_url: str, *, setting: str = DEFAULT_SETTING) -> Path:
    """The file a `sqlite:///PATH` URL names; refused unless PATH is a plain file path."""
    if not database_url.startswith(SQLITE_PREFIX):
        raise StorageConfigError(
            f"{setting}: use sqlite:///PATH (one process) or"
            " postgresql://USER:PASSWORD@HOST:PORT/DATABASE (many processes)"
        )
    path = database_url[len(SQLITE_PREFIX) :]
    if not path:
        raise StorageConfigError(f"{setting}: sqlite:/// needs a file path")
    # SQLite is built to read a name starting with `file:` as a URI: `?mode=memory` would keep
    # every key in memory only, and other options choose files the modes below never reach.
    # A query on a plain path would silently become part of the file's name instead.
    if path.lower().startswith("file:") or "?" in path or path == ":memory:":
        raise StorageConfigError(
            f"{setting}: must name a plain file path, e.g. sqlite:///data/byok-bot.sqlite3 "
            "(SQLite URIs, ?options and in-memory databases are refused)"
        )
    return Path(path)


async def open_store(settings: StorageSettings) -> Store:
    """The Store DATABASE_URL names, at the schema this code knows; anything that stops it
    from opening is a StorageConfigError, one line naming DATABASE_URL, for the operator.

    SQLite migrates itself first: it serves one process from a file that is the bot's own,
    so `make run` and an upgrade need no extra step, and the migration is one write
    transaction other processes on the file wait for. Upgrading an existing file logs one
    line saying so; a new file is the first start, not news (and a line then would come
    before the one line of a configuration error found after the store opened).
    PostgreSQL never does: several processes share it, and changing their schema under them
    is the operator's step (`byok-bot migrate`); until then every command refuses to start.
    """
    database = Database.from_settings(settings)
    if not database.is_postgres:
        change = await migrate_database(database)
        if change.applied and change.before > 0:
            log.info(
                "migrated the database from version %d to %d (%s)",
                change.before,
                change.after,
                ", ".join(migration.name for migration in change.applied),
            )
    return await open_engine(database)


async def open_engine(
    database: Database, *, read_only: bool = False
) -> SqliteStore | PostgresStore:
    """The engine's own store, checked against the schema, never migrated. `read_only` is
    for a database that is only read (copy-db's source): an SQLite file that is not there is
    refused instead of created, and one that is there is not written to at all."""
    if database.is_postgres:
        return await PostgresStore.open(
            url=database.url, pool_size=database.pool_size, setting=database.setting
        )
    path = sqlite_path(database.url, setting=database.setting)
    if read_only and not path.is_file():
        raise StorageConfigError(f"{database.setting}: there is no SQLite database at {path}")
    try:
        return await SqliteStore.open(path, setting=database.setting, read_only=read_only)
    except (sqlite3.Error, OSError, StoreError) as error:
        raise _sqlite_refusal(database, path, error) from None


async def migrate_database(database: Database) -> SchemaChange:
    """Bring the database's schema up to this code's, under the engine's lock."""
    if database.is_postgres:
        return await PostgresStore.migrate(url=database.url, setting=database.setting)
    path = sqlite_path(database.url, setting=database.setting)
    try:
        return await SqliteStore.migrate(path, setting=database.setting)
    except (sqlite3.Error, OSError, StoreError) as error:
        raise _sqlite_refusal(database, path, error) from None


def _sqlite_refusal(database: Database, path: Path, error: BaseException) -> StorageConfigError:
    cause = error.__cause__ if isinstance(error, StoreError) else error
    return StorageConfigError(f"{database.setting}: {_why_not(path, cause)}")


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
