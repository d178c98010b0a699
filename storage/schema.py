"""The schema's version as an operator meets it: what `byok-bot migrate` did, and the one
line that stops a command on a database its code was not written for. Both engines use it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from storage.errors import StorageConfigError

DEFAULT_SETTING = "DATABASE_URL"
MIGRATE_COMMAND = "byok-bot migrate"


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    name: str
    script: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaChange:
    """What one migration run found and did."""

    before: int
    after: int
    applied: tuple[Migration, ...] = ()


class SchemaMismatch(StorageConfigError):
    """The database's schema is not the one this code was written for."""


def read_migrations(engine: str) -> list[Migration]:
    """The numbered scripts in storage/migrations/ENGINE/, oldest first."""
    folder = resources.files("storage") / "migrations" / engine
    found = [
        Migration(
            version=int(entry.name.split("_", 1)[0]),
            name=entry.name.removesuffix(".sql"),
            script=entry.read_text("utf-8"),
        )
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda migration: migration.version)


def ahead(current: int, latest: int, *, setting: str = DEFAULT_SETTING) -> SchemaMismatch:
    # Migrations only go forward: an older release cannot know what a newer one changed,
    # so the only way on is the release that wrote the schema (or a later one).
    return SchemaMismatch(
        f"{setting}: the database's schema is at version {current}, newer than this byok-bot"
        f" knows (version {latest}); upgrade byok-bot to the release that migrated it"
    )


def check_version(current: int, latest: int, *, setting: str = DEFAULT_SETTING) -> None:
    """Refuse, in one line naming what to run, a schema behind or ahead of the code."""
    if current > latest:
        raise ahead(current, latest, setting=setting)
    if current == latest:
        return
    # A database other than DATABASE_URL (copy-db's --from) is migrated by pointing
    # DATABASE_URL at it, so say that rather than a command that would migrate another one.
    run = (
        f"run `{MIGRATE_COMMAND}`"
        if setting == DEFAULT_SETTING
        else f"run `{MIGRATE_COMMAND}` with DATABASE_URL set to that database"
    )
    if current == 0:
        raise SchemaMismatch(
            f"{setting}: the database has no byok-bot tables yet (this byok-bot needs"
            f" version {latest}); {run} first"
        )
    raise SchemaMismatch(
        f"{setting}: the database's schema is at version {current}, this byok-bot needs"
        f" version {latest}; {run} first"
    )
