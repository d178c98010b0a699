"""Migrations as an operator meets them, through the real `byok-bot` command: `migrate`
says what it did; every command that opens the database refuses, in one line with exit
status 2, a schema behind (PostgreSQL) or ahead (both engines) of the code, naming what to
run; SQLite brings itself up to date at start-up and says so."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bot.vault import generate_master_key
from storage import postgres as postgres_engine
from storage import sqlite as sqlite_engine
from tests.fakes import postgres
from tests.fakes.cli import run_cli

PG_LATEST = postgres_engine.migrations()[-1].version
# Every version in order; numbers may skip (helpers' branches number theirs apart).
PG_VERSIONS = [m.version for m in postgres_engine.migrations()]
SQLITE_LATEST = sqlite_engine.migrations()[-1].version
# Every command that opens the database, with what it needs to get that far.
OPENING = (("run",), ("console",), ("audit",), ("rotate-master-key",))


def env_for(database_url: str) -> dict[str, str]:
    return {"BYOK_MASTER_KEYS": generate_master_key(), "DATABASE_URL": database_url}


def one_line(code: int, err: str, *expected: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for part in expected:
        assert part in lines[0], err
    return lines[0]


async def pg_versions(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        if await connection.fetchval("SELECT to_regclass('schema_version')") is None:
            return []
        rows = await connection.fetch("SELECT version FROM schema_version ORDER BY version")
        return [int(row["version"]) for row in rows]
    finally:
        await connection.close()


async def test_postgres_is_migrated_by_the_operator_not_by_run(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    env = env_for(fresh_postgres_url)
    for command in OPENING:
        code, _, err = await run_cli(*command, cwd=tmp_path, env=env)
        line = one_line(code, err, "DATABASE_URL", "`byok-bot migrate`")
        assert "no byok-bot tables yet" in line
    # Refusing touched nothing: not even the version table.
    assert await pg_versions(fresh_postgres_url) == []

    code, out, err = await run_cli("migrate", cwd=tmp_path, env=env)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[:-1] == [
        f"applied version {m.version} ({m.name})" for m in postgres_engine.migrations()
    ]
    where = f"PostgreSQL database {fresh_postgres_url.rsplit('/', 1)[1]} at 127.0.0.1:5432"
    assert lines[-1] == f"{where}: migrated from version 0 to {PG_LATEST}."
    assert await pg_versions(fresh_postgres_url) == PG_VERSIONS

    # No tokens: `run` starts the console, which ends with its input.
    code, out, err = await run_cli("run", cwd=tmp_path, env=env, stdin="")
    assert code == 0, err
    assert "byok-bot console" in out

    code, out, err = await run_cli("migrate", cwd=tmp_path, env=env)
    assert code == 0, err
    assert out.strip().splitlines() == [f"{where}: already at version {PG_LATEST}; nothing to do."]
    assert await pg_versions(fresh_postgres_url) == PG_VERSIONS


async def test_a_postgres_schema_behind_the_code_names_migrate(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    connection = await asyncpg.connect(fresh_postgres_url)
    try:
        # What the release before this one left: every migration but the last.
        await connection.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL)"
        )
        for migration in postgres_engine.migrations()[:-1]:
            await connection.execute(migration.script)
            await connection.execute(
                "INSERT INTO schema_version VALUES ($1, now())", migration.version
            )
    finally:
        await connection.close()
    env = env_for(fresh_postgres_url)
    code, _, err = await run_cli("console", cwd=tmp_path, env=env)
    one_line(code, err, "DATABASE_URL", "`byok-bot migrate`", f"needs version {PG_LATEST}")
    code, out, err = await run_cli("migrate", cwd=tmp_path, env=env)
    assert code == 0, err
    last = postgres_engine.migrations()[-1]
    assert out.splitlines()[0] == f"applied version {last.version} ({last.name})"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, db_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("fresh_postgres_url")
        return url
    return f"sqlite:///{db_path}"


async def test_a_schema_ahead_of_the_code_is_refused_by_every_command(
    tmp_path: Path, database_url: str
) -> None:
    env = env_for(database_url)
    code, _, err = await run_cli("migrate", cwd=tmp_path, env=env)
    assert code == 0, err
    latest = SQLITE_LATEST if database_url.startswith("sqlite") else PG_LATEST
    await _record_version(database_url, latest + 1)

    for command in (*OPENING, ("migrate",)):
        code, _, err = await run_cli(*command, cwd=tmp_path, env=env)
        one_line(code, err, "DATABASE_URL", f"version {latest + 1}", "upgrade byok-bot")


async def test_sqlite_migrates_itself_at_start_up_and_says_so_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "byok.sqlite3"
    env = env_for(f"sqlite:///{path}")
    # A new database is the first start: created quietly.
    code, _, err = await run_cli("console", cwd=tmp_path, env=env, stdin="/quit\n")
    assert code == 0, err
    assert "migrated" not in err
    # One the release before this one left behind is upgraded, in one log line.
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        for migration in sqlite_engine.migrations()[:-1]:
            db.executescript(migration.script)
            db.execute("INSERT INTO schema_version VALUES (?, 'then')", (migration.version,))

    # (Any command that opens it; the console would log it too, but keeps INFO lines out of
    # the conversation unless LOG_LEVEL is set.)
    code, out, err = await run_cli("audit", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "No audit events match." in out
    migrated = [line for line in err.splitlines() if "migrated" in line]
    assert len(migrated) == 1, err
    assert (
        f"migrated the database from version {sqlite_engine.migrations()[-2].version}"
        f" to {SQLITE_LATEST}" in (migrated[0])
    )
    code, out, err = await run_cli("migrate", cwd=tmp_path, env=env)
    assert code == 0, err
    assert f"already at version {SQLITE_LATEST}; nothing to do." in out
    assert f"SQLite file {path}" in out


async def test_sqlite_migrate_prints_each_version_it_applies(tmp_path: Path) -> None:
    path = tmp_path / "data" / "byok.sqlite3"
    # No master key needed: migrating never opens a sealed key.
    env = {"DATABASE_URL": f"sqlite:///{path}"}
    code, out, err = await run_cli("migrate", cwd=tmp_path, env=env)
    assert code == 0, err
    assert out.strip().splitlines() == [
        *(f"applied version {m.version} ({m.name})" for m in sqlite_engine.migrations()),
        f"SQLite file {path}: migrated from version 0 to {SQLITE_LATEST}.",
    ]


async def test_migrate_on_a_database_it_cannot_use_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database, and long enough to tell " * 40)
    for url, expected in (
        ("mysql://localhost/byok", "use sqlite:///PATH"),
        (f"sqlite:///{tmp_path}/notes.txt", "is not an SQLite database"),
    ):
        code, _, err = await run_cli("migrate", cwd=tmp_path, env={"DATABASE_URL": url})
        one_line(code, err, "DATABASE_URL", expected)


async def _record_version(url: str, version: int) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, 'later')",
                (version,),
            )
        return
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("INSERT INTO schema_version VALUES ($1, now())", version)
    finally:
        await connection.close()


async def test_a_postgres_user_without_the_privileges_is_one_line(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    role = f"byok_test_role_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres.SERVER_URL)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        as_role = fresh_postgres_url.replace("postgres@", f"{role}@", 1)
        # PostgreSQL 15 and later let nobody but the owner create tables in `public`.
        code, _, err = await run_cli("migrate", cwd=tmp_path, env={"DATABASE_URL": as_role})
        one_line(code, err, "DATABASE_URL", repr(role), "CREATE")

        code, _, err = await run_cli(
            "migrate", cwd=tmp_path, env={"DATABASE_URL": fresh_postgres_url}
        )
        assert code == 0, err
        code, _, err = await run_cli("console", cwd=tmp_path, env=env_for(as_role))
        one_line(code, err, "DATABASE_URL", repr(role), "SELECT")
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
