"""`byok-bot copy-db --from URL --to URL`, through the real command: a community moves from
SQLite to PostgreSQL (and back) without anyone setting a key again."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from slack_sdk.oauth.installation_store import Installation

from adapters.slack.installations import SealedInstallationStore, StoredOAuthStateStore
from app.services import open_services
from bot.domain import Cap, Member, WorkspaceConfig
from bot.ports import Lease, StoreError
from storage.copy import CopyFailed, copy_rows
from storage.factory import Database, open_engine
from storage.sqlite import SqliteStore
from storage.tables import NOT_COPIED, TABLES, Row, RowReader, RowSource, Table
from tests.fakes.cli import run_cli
from tests.fakes.core import RecordingSink, ask, make_settings, member, opened_keys, with_key
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
BOB = member("bob")
# A Slack member, so workspaces other than the empty one travel too.
CAROL = Member("slack", "T1", "U3")
SEEDED = ("alice", "bob")
# A workspace that installed the app through Slack's OAuth flow (OAuth mode).
INSTALLED_TOKEN = "xoxb-T9-copied-installation-token"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


CAROLS_BETA_KEY = "carols-key-at-another-provider"


async def seed(fake: FakeOpenAI, *, master_key: str, url: str) -> dict[Member, str]:
    """A community with something in every table: keys (so fingerprints), a chosen model,
    caps, usage, audit events, an admin's workspace settings and shared state."""
    services = await open_services(make_settings(fake, master_keys=master_key, database_url=url))
    try:
        keys = {who: await with_key(services, fake, who) for who in (ALICE, BOB, CAROL)}
        # A second provider's key beside Carol's OpenAI key (the store takes any provider id).
        await services.store.save_key(
            CAROL,
            sealed=services.vault.seal(CAROL, CAROLS_BETA_KEY, provider="beta"),
            masked="beta...arol",
            fingerprint=services.vault.sealing_fingerprint,
            now=datetime.now(UTC),
            provider="beta",
        )
        await services.store.set_model(ALICE, "gpt-4o")
        await services.store.set_instructions(BOB, "Answer in French.\nBriefly.")
        await services.store.set_cap(BOB, "daily", Cap(2.5, "usd"))
        await services.store.set_cap(BOB, "monthly", Cap(90000, "tokens"))
        await services.store.save_workspace_config(
            WorkspaceConfig(
                platform="slack",
                workspace="T1",
                allowed_channels=frozenset({"C1", "C2"}),
                default_model="gpt-4.1-mini",
                threaded=False,
                member_caps={"daily": Cap(1.5, "usd")},
                system_prompt="You help the support team.",
                channel_prompts={"C1": "Only SQL."},
            )
        )
        for who in (ALICE, BOB, ALICE):
            sink = RecordingSink()
            turn = await services.core.handle_message(ask(who, "hello there"), sink)
            assert turn is not None and turn.failure is None, sink.privates
        await services.ledger.flush()
        # The state processes share: an answered event, and a turn still in flight (of a
        # member nobody asks for below) whose lease outlives the test.
        now = datetime.now(UTC)
        assert await services.store.first_time("Ev0123", now=now, until=now + timedelta(hours=1))
        taken = await services.store.take_lease(
            Lease(bucket="console::zoe", holder="stopped-process", limit=1),
            now=now,
            until=now + timedelta(hours=1),
        )
        assert taken is None
        await SealedInstallationStore(records=services.store, vault=services.vault).async_save(
            Installation(team_id="T9", user_id="U9", bot_token=INSTALLED_TOKEN, bot_user_id="UB")
        )
        await StoredOAuthStateStore(records=services.store).async_issue()
        return keys
    finally:
        await services.close()


async def every_row(url: str) -> dict[str, list[Row]]:
    """Each copied table's rows, as the engine reads them for a copy, in a fixed order."""
    store = await open_engine(Database(url=url), read_only=True)
    try:
        async with store.reading() as reader:
            found: dict[str, list[Row]] = {}
            for table in TABLES:
                rows = [row async for batch in reader.rows(table) for row in batch]
                found[table.name] = sorted(rows, key=repr)
            return found
    finally:
        await store.close()


def sqlite_dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


async def copy(*arguments: str, cwd: Path) -> tuple[int, str, str]:
    return await run_cli("copy-db", *arguments, cwd=cwd, env={})


def one_line(code: int, err: str, *expected: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in expected:
        assert part in lines[0], err
    return lines[0]


async def test_sqlite_to_postgres_and_back_keeps_every_row_and_every_key(
    tmp_path: Path, fake_openai: FakeOpenAI, master_key: str, fresh_postgres_url: str
) -> None:
    source = tmp_path / "data" / "byok.sqlite3"
    keys = await seed(fake_openai, master_key=master_key, url=sqlite_url(source))
    before = sqlite_dump(source)
    rows = await every_row(sqlite_url(source))
    assert all(rows[table.name] for table in TABLES), "seed something in every table"
    # A source in a folder shared with others (a backup, say) keeps its modes.
    source.parent.chmod(0o755)
    source.chmod(0o644)

    # Into a database nobody has migrated: copy-db migrates it first.
    code, out, err = await copy(
        "--from", sqlite_url(source), "--to", fresh_postgres_url, cwd=tmp_path
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("--to: migrated the database from version 0 to ")
    assert lines[1].split() == ["table", "--from", "--to"]
    for table, line in zip(TABLES, lines[2:-1], strict=True):
        count = len(rows[table.name])
        assert line.split() == [table.name, str(count), str(count)]
    total = sum(len(found) for found in rows.values())
    assert lines[-1].startswith(f"Copied {total} rows from SQLite file {source} to PostgreSQL")
    assert "every table's count matches" in lines[-1]
    # The source is only read.
    assert sqlite_dump(source) == before
    assert (source.parent.stat().st_mode & 0o777, source.stat().st_mode & 0o777) == (
        0o755,
        0o644,
    )
    # Every value is what it was, sealed keys byte for byte.
    assert await every_row(fresh_postgres_url) == rows

    # The same master key opens every member's key there, and the bot serves on it.
    opened = await opened_keys(
        fake_openai, master_keys=master_key, database_url=fresh_postgres_url, names=SEEDED
    )
    assert opened == {name: keys[member(name)] for name in SEEDED}
    services = await open_services(
        make_settings(fake_openai, master_keys=master_key, database_url=fresh_postgres_url)
    )
    try:
        stored = await services.store.get_key(CAROL)
        assert stored is not None and services.vault.open(CAROL, stored.sealed) == keys[CAROL]
        installations = SealedInstallationStore(records=services.store, vault=services.vault)
        installed = await installations.async_find_bot(enterprise_id=None, team_id="T9")
        assert installed is not None and installed.bot_token == INSTALLED_TOKEN
        beta = await services.store.get_key(CAROL, "beta")
        assert beta is not None
        assert services.vault.open(CAROL, beta.sealed, provider="beta") == CAROLS_BETA_KEY
        sink = RecordingSink()
        turn = await services.core.handle_message(ask(ALICE, "still there?"), sink)
        assert turn is not None and turn.failure is None, sink.privates
        assert sink.text == "You asked: still there?"
        request = fake_openai.chat_requests()[-1]
        assert request.authorization == f"Bearer {keys[ALICE]}"
        assert request.body is not None and request.body["model"] == "gpt-4o"
        # New usage and audit rows number on from the copied ones.
        await with_key(services, fake_openai, member("dave"))
        await services.ledger.flush()
    finally:
        await services.close()
    grown = await every_row(fresh_postgres_url)
    assert len(grown["usage_events"]) == len(rows["usage_events"]) + 1
    assert len(grown["audit_events"]) > len(rows["audit_events"])

    # And back, into a new SQLite file.
    back = tmp_path / "back" / "byok.sqlite3"
    code, out, err = await copy(
        "--from", fresh_postgres_url, "--to", sqlite_url(back), cwd=tmp_path
    )
    assert code == 0, err
    assert await every_row(sqlite_url(back)) == grown
    opened = await opened_keys(
        fake_openai, master_keys=master_key, database_url=sqlite_url(back), names=SEEDED
    )
    assert opened == {name: keys[member(name)] for name in SEEDED}


async def test_same_engine_copies_and_the_same_database_is_refused(
    tmp_path: Path,
    fake_openai: FakeOpenAI,
    master_key: str,
    postgres_url: str,
    fresh_postgres_url: str,
) -> None:
    first = tmp_path / "first.sqlite3"
    await seed(fake_openai, master_key=master_key, url=sqlite_url(first))
    rows = await every_row(sqlite_url(first))
    second = tmp_path / "second.sqlite3"
    code, _, err = await copy("--from", sqlite_url(first), "--to", sqlite_url(second), cwd=tmp_path)
    assert code == 0, err
    assert await every_row(sqlite_url(second)) == rows

    for url in (postgres_url, fresh_postgres_url):
        source = sqlite_url(second) if url == postgres_url else postgres_url
        code, _, err = await copy("--from", source, "--to", url, cwd=tmp_path)
        assert code == 0, err
        assert await every_row(url) == rows

    # --force would empty the source before reading it.
    for same in (
        (sqlite_url(first), sqlite_url(tmp_path / "." / "first.sqlite3")),
        (postgres_url, postgres_url),
    ):
        code, _, err = await copy("--from", same[0], "--to", same[1], "--force", cwd=tmp_path)
        one_line(code, err, "--to", "same database as --from")
    assert await every_row(sqlite_url(first)) == rows


async def test_a_target_with_rows_is_refused_unless_forced(
    tmp_path: Path, fake_openai: FakeOpenAI, master_key: str, postgres_url: str
) -> None:
    source = tmp_path / "byok.sqlite3"
    await seed(fake_openai, master_key=master_key, url=sqlite_url(source))
    rows = await every_row(sqlite_url(source))
    # A target someone already uses.
    services = await open_services(
        make_settings(fake_openai, master_keys=master_key, database_url=postgres_url)
    )
    try:
        await with_key(services, fake_openai, member("dave"))
    finally:
        await services.close()
    held = await every_row(postgres_url)

    code, _, err = await copy("--from", sqlite_url(source), "--to", postgres_url, cwd=tmp_path)
    line = one_line(code, err, "--to", "already holds rows", "member_keys", "--force")
    assert "nothing was copied" in line
    assert await every_row(postgres_url) == held

    code, _, err = await copy(
        "--from", sqlite_url(source), "--to", postgres_url, "--force", cwd=tmp_path
    )
    assert code == 0, err
    assert await every_row(postgres_url) == rows


async def test_a_copy_that_fails_midway_leaves_the_target_as_it_was(
    tmp_path: Path, fake_openai: FakeOpenAI, master_key: str, postgres_url: str
) -> None:
    source = tmp_path / "byok.sqlite3"
    await seed(fake_openai, master_key=master_key, url=sqlite_url(source))
    # Text SQLite keeps and PostgreSQL cannot, in the last table copied: it fails after every
    # other table has landed.
    assert TABLES[-1].name == "turn_leases"
    with sqlite3.connect(source) as db:
        db.execute(
            "INSERT INTO turn_leases (bucket, holder, expires_at) VALUES ('b', ?, 4102444800)",
            ("a\x00b",),
        )
    services = await open_services(
        make_settings(fake_openai, master_keys=master_key, database_url=postgres_url)
    )
    try:
        await with_key(services, fake_openai, member("dave"))
    finally:
        await services.close()
    held = await every_row(postgres_url)

    code, _, err = await copy(
        "--from", sqlite_url(source), "--to", postgres_url, "--force", cwd=tmp_path
    )
    one_line(code, err, "copy-db failed and changed nothing in --to")
    assert await every_row(postgres_url) == held


class FailingOnTheLastTable:
    """A source that breaks (a lost connection, a bad sector) on the last table."""

    def __init__(self, source: RowSource) -> None:
        self._source = source

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[RowReader]:
        async with self._source.reading() as reader:
            yield _FailingReader(reader)


class _FailingReader:
    def __init__(self, reader: RowReader) -> None:
        self._reader = reader

    async def count(self, table: Table) -> int:
        return await self._reader.count(table)

    async def rows(self, table: Table) -> AsyncIterator[Sequence[Row]]:
        if table == TABLES[-1]:
            raise StoreError("database read failed: disk I/O error")
        async for batch in self._reader.rows(table):
            yield batch


@pytest.fixture(params=["sqlite", "postgres"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return sqlite_url(tmp_path / "target.sqlite3")


async def test_a_source_failing_midway_changes_nothing_in_either_engine(
    tmp_path: Path, fake_openai: FakeOpenAI, master_key: str, target_url: str
) -> None:
    source = tmp_path / "source.sqlite3"
    await seed(fake_openai, master_key=master_key, url=sqlite_url(source))
    services = await open_services(
        make_settings(fake_openai, master_keys=master_key, database_url=target_url)
    )
    try:
        await with_key(services, fake_openai, member("dave"))
    finally:
        await services.close()
    held = await every_row(target_url)
    reading = await open_engine(Database(url=sqlite_url(source)))
    writing = await open_engine(Database(url=target_url))
    try:
        with pytest.raises(CopyFailed) as failed:
            await copy_rows(source=FailingOnTheLastTable(reading), target=writing, force=True)
    finally:
        await reading.close()
        await writing.close()
    assert "changed nothing in --to" in str(failed.value)
    assert await every_row(target_url) == held


async def test_a_source_behind_the_code_is_refused_and_left_alone(tmp_path: Path) -> None:
    from storage.sqlite import migrations

    source = tmp_path / "old.sqlite3"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        for migration in migrations()[:-1]:
            db.executescript(migration.script)
            db.execute("INSERT INTO schema_version VALUES (?, 'then')", (migration.version,))
    before = sqlite_dump(source)
    code, _, err = await copy(
        "--from", sqlite_url(source), "--to", sqlite_url(tmp_path / "new.sqlite3"), cwd=tmp_path
    )
    one_line(code, err, "--from", "`byok-bot migrate` with DATABASE_URL set to that database")
    assert sqlite_dump(source) == before


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_bad_urls_and_arguments_are_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.sqlite3"
    await SqliteStore.migrate(good)
    cases = (
        (("--from", "mysql://db/byok", "--to", sqlite_url(good)), ("--from", "use sqlite:///")),
        (
            ("--from", sqlite_url(good), "--to", "sqlite:///file:x?mode=memory"),
            ("--to", "plain file path"),
        ),
        (
            ("--from", sqlite_url(tmp_path / "missing.sqlite3"), "--to", sqlite_url(good)),
            ("--from", "there is no SQLite database at"),
        ),
        (
            ("--from", sqlite_url(good), "--to", f"postgresql://byok@127.0.0.1:{closed_port()}/b"),
            ("--to", "cannot reach PostgreSQL", "fix the host and port in --to"),
        ),
        (("--from", sqlite_url(good)), ("--to", "required", "--help")),
    )
    for arguments, expected in cases:
        code, _, err = await copy(*arguments, cwd=tmp_path)
        one_line(code, err, *expected)
    assert not (tmp_path / "missing.sqlite3").exists()


async def test_the_table_list_covers_every_table_and_column_of_both_engines(
    tmp_path: Path, postgres_url: str
) -> None:
    described = {table.name: set(table.column_names) for table in TABLES}
    assert len(described) == len(TABLES)

    await SqliteStore.migrate(tmp_path / "s.sqlite3")
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        names = [
            str(row[0])
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        on_sqlite = {
            name: {str(row[1]) for row in db.execute(f"PRAGMA table_info({name})")}
            for name in names
        }
    connection = await asyncpg.connect(postgres_url)
    try:
        on_postgres: dict[str, set[str]] = {}
        for row in await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        ):
            on_postgres.setdefault(str(row["table_name"]), set()).add(str(row["column_name"]))
    finally:
        await connection.close()
    for engine, tables in (("sqlite", on_sqlite), ("postgres", on_postgres)):
        for name in NOT_COPIED:
            tables.pop(name)
        assert tables == described, f"{engine}: add the table to storage/tables.py"
