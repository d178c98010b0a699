"""What only the PostgreSQL engine has: migrations under a lock for processes that start
together, its column types, its pool, and the one line an operator reads when the server
cannot be used. The Store contract it shares with SQLite is tests/test_store_contract.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from app.services import open_services
from app.settings import SettingsError, load_settings
from bot.domain import Member
from bot.ports import Lease
from bot.vault import generate_master_key
from storage import SchemaMismatch, StorageConfigError, open_store
from storage.postgres import PostgresStore, migrations, point_reader
from tests.fakes import postgres
from tests.fakes.cli import run_cli
from tests.fakes.core import RecordingSink, ask, make_settings, member, with_key
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.postgres import PasswordRefusingServer

ALICE = Member("slack", "T1", "U1")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LATEST = migrations()[-1].version
# Every version in order; numbers may skip (helpers' branches number theirs apart).
VERSIONS = [m.version for m in migrations()]


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _versions(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT version FROM schema_version ORDER BY version")
        return [row["version"] for row in rows]
    finally:
        await connection.close()


# Migrations


async def test_ten_migrations_at_once_one_applies_and_the_others_find_it_done(
    fresh_postgres_url: str,
) -> None:
    # Each migration opens its own connection, as separate processes would.
    changes = await asyncio.gather(
        *(PostgresStore.migrate(url=fresh_postgres_url) for _ in range(10))
    )
    applied = [change for change in changes if change.applied]
    assert len(applied) == 1
    assert [m.version for m in applied[0].applied] == VERSIONS
    assert {(c.before, c.after) for c in changes if not c.applied} <= {(LATEST, LATEST)}
    assert await _versions(fresh_postgres_url) == VERSIONS
    stores = await asyncio.gather(
        *(PostgresStore.open(url=fresh_postgres_url, pool_size=1) for _ in range(3))
    )
    try:
        # Every one of them works on the same tables.
        await stores[0].save_key(ALICE, sealed=b"s", masked="m", fingerprint="f", now=NOW)
        assert await stores[2].get_key(ALICE) is not None
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_opening_never_migrates_and_names_the_command(fresh_postgres_url: str) -> None:
    with pytest.raises(SchemaMismatch) as refused:
        await PostgresStore.open(url=fresh_postgres_url, pool_size=1)
    message = str(refused.value)
    assert message.startswith("DATABASE_URL: ") and "\n" not in message
    assert "`byok-bot migrate`" in message
    connection = await asyncpg.connect(fresh_postgres_url)
    try:
        assert await connection.fetchval("SELECT to_regclass('schema_version')") is None
    finally:
        await connection.close()


async def test_a_schema_behind_the_code_is_refused_until_migrated(fresh_postgres_url: str) -> None:
    connection = await asyncpg.connect(fresh_postgres_url)
    try:
        # What the release before this one left: every migration but the last.
        await connection.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL)"
        )
        for migration in migrations()[:-1]:
            await connection.execute(migration.script)
            await connection.execute(
                "INSERT INTO schema_version VALUES ($1, now())", migration.version
            )
    finally:
        await connection.close()
    with pytest.raises(SchemaMismatch) as refused:
        await PostgresStore.open(url=fresh_postgres_url, pool_size=1)
    assert "`byok-bot migrate`" in str(refused.value)
    change = await PostgresStore.migrate(url=fresh_postgres_url)
    assert [m.version for m in change.applied] == [LATEST]
    store = await PostgresStore.open(url=fresh_postgres_url, pool_size=1)
    await store.close()


async def test_a_schema_newer_than_this_code_stops_start_up_in_one_line(
    fresh_postgres_url: str,
) -> None:
    await PostgresStore.migrate(url=fresh_postgres_url)
    connection = await asyncpg.connect(fresh_postgres_url)
    try:
        await connection.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, now())", LATEST + 1
        )
    finally:
        await connection.close()
    for attempt in (
        PostgresStore.open(url=fresh_postgres_url, pool_size=1),
        PostgresStore.migrate(url=fresh_postgres_url),
    ):
        with pytest.raises(SchemaMismatch) as refused:
            await attempt
        message = str(refused.value)
        assert message.startswith("DATABASE_URL: ") and "\n" not in message
        assert f"version {LATEST + 1}" in message and "upgrade byok-bot" in message
    # Refused before anything was touched.
    assert await _versions(fresh_postgres_url) == [*VERSIONS, LATEST + 1]


async def test_sealed_keys_are_bytea_and_times_carry_their_zone(postgres_url: str) -> None:
    store = await PostgresStore.open(url=postgres_url, pool_size=1)
    await store.close()
    connection = await asyncpg.connect(postgres_url)
    try:
        rows = await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'member_keys'"
        )
        types = {str(row["column_name"]): str(row["data_type"]) for row in rows}
    finally:
        await connection.close()
    assert types["sealed"] == "bytea"
    assert types["set_at"] == "timestamp with time zone"


# Several processes on one database


async def test_a_key_set_by_one_process_is_read_by_another_at_once(postgres_url: str) -> None:
    first = await PostgresStore.open(url=postgres_url, pool_size=2)
    second = await PostgresStore.open(url=postgres_url, pool_size=2)
    try:
        key_id = await first.save_key(ALICE, sealed=b"s", masked="m", fingerprint="f", now=NOW)
        stored = await second.get_key(ALICE)
        assert stored is not None and stored.key_id == key_id
        assert await second.delete_key(ALICE)
        assert await first.get_key(ALICE) is None
    finally:
        await first.close()
        await second.close()


async def test_reseal_all_waits_for_a_key_written_elsewhere_and_reseals_it(
    postgres_url: str,
) -> None:
    store = await PostgresStore.open(url=postgres_url, pool_size=2)
    other_process = await asyncpg.connect(postgres_url)
    try:
        await store.save_key(ALICE, sealed=b"old", masked="m", fingerprint="f", now=NOW)
        writing = other_process.transaction()
        await writing.start()
        await other_process.execute(
            "UPDATE member_keys SET sealed = $1 WHERE user_id = $2", b"replaced", ALICE.user
        )
        resealing = asyncio.create_task(
            store.reseal_all(lambda s: s + b"!", fingerprint="g", audit_event="r", now=NOW)
        )
        await asyncio.sleep(0.3)
        assert not resealing.done()
        await writing.commit()
        assert await asyncio.wait_for(resealing, 10) == 1
        # Re-sealed from what the other process wrote, never from the row read before it.
        stored = await store.get_key(ALICE)
        assert stored is not None and stored.sealed == b"replaced!"
    finally:
        await other_process.close()
        await store.close()


async def test_deleted_rows_are_gone_from_the_table(postgres_url: str) -> None:
    store = await PostgresStore.open(url=postgres_url, pool_size=1)
    try:
        await store.save_key(ALICE, sealed=b"s", masked="m", fingerprint="f", now=NOW)
        assert await store.delete_key(ALICE)
        await store.save_key(ALICE, sealed=b"s", masked="m", fingerprint="f", now=NOW)
        await store.forget_member(ALICE, now=NOW)
    finally:
        await store.close()
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM member_keys") == 0
    finally:
        await connection.close()


# The pool


async def test_the_pool_size_is_the_setting(postgres_url: str) -> None:
    settings = load_settings(None, {"DATABASE_URL": postgres_url, "BYOK_DB_POOL_SIZE": "2"})
    assert settings.storage.db_pool_size == 2
    store = await open_store(settings.storage)
    try:
        assert isinstance(store, PostgresStore)
        # The pool and the point reader's connection: two at most in all.
        assert store._pool.get_max_size() == 1
        assert store._point_reader is not None
        # More work at once than connections: it waits its turn and every write lands.
        members = [Member("slack", "T1", f"U{i}") for i in range(12)]
        await asyncio.gather(
            *(
                store.save_key(who, sealed=b"s", masked="m", fingerprint="f", now=NOW)
                for who in members
            )
        )
        assert all([await store.get_key(who) for who in members])
    finally:
        await store.close()


def test_the_pool_size_defaults_to_one_process_and_refuses_nonsense() -> None:
    assert load_settings(None).storage.db_pool_size == 5
    with pytest.raises(SettingsError) as refused:
        load_settings(None, {"BYOK_DB_POOL_SIZE": "0"})
    assert [p.split(":", 1)[0] for p in refused.value.problems] == ["BYOK_DB_POOL_SIZE"]


def test_the_password_in_a_database_url_stays_out_of_the_settings_repr() -> None:
    secret = "hunter2-" + "q" * 12
    settings = load_settings(None, {"DATABASE_URL": f"postgresql://byok:{secret}@db/byok"})
    assert secret not in repr(settings) and secret not in repr(settings.storage)


# A server that cannot be used: one line naming DATABASE_URL and what to do


def _one_line(error: pytest.ExceptionInfo[StorageConfigError], *expected: str) -> str:
    message = str(error.value)
    assert message.startswith("DATABASE_URL: ") and "\n" not in message, message
    for part in expected:
        assert part in message, message
    return message


async def test_an_unreachable_server_is_one_line() -> None:
    port = closed_port()
    with pytest.raises(StorageConfigError) as refused:
        await PostgresStore.open(url=f"postgresql://byok@127.0.0.1:{port}/byok", pool_size=1)
    _one_line(refused, f"127.0.0.1:{port}", "start the server")


async def test_a_wrong_password_is_one_line_without_the_password() -> None:
    server = await PasswordRefusingServer().start()
    password = "not-the-password-" + "z" * 8
    try:
        with pytest.raises(StorageConfigError) as refused:
            await PostgresStore.open(
                url=f"postgresql://byok:{password}@127.0.0.1:{server.port}/byok", pool_size=1
            )
    finally:
        await server.close()
    assert server.passwords_offered >= 1
    message = _one_line(refused, "password", "'byok'")
    assert password not in message


async def test_a_missing_database_is_one_line(postgres_database: str) -> None:
    missing = postgres.database_url("byok_test_does_not_exist")
    with pytest.raises(StorageConfigError) as refused:
        await PostgresStore.open(url=missing, pool_size=1)
    _one_line(refused, "'byok_test_does_not_exist' does not exist", "createdb")


async def test_an_unknown_user_is_one_line(postgres_database: str) -> None:
    url = postgres_database.replace("postgres@", "byok_no_such_role@", 1)
    with pytest.raises(StorageConfigError) as refused:
        await PostgresStore.open(url=url, pool_size=1)
    _one_line(refused, "'byok_no_such_role'")


async def test_a_url_asyncpg_cannot_read_is_one_line() -> None:
    with pytest.raises(StorageConfigError) as refused:
        await PostgresStore.open(url="postgresql://byok@127.0.0.1:notaport/byok", pool_size=1)
    _one_line(refused, "postgresql://USER:PASSWORD@HOST:PORT/DATABASE")


async def test_the_cli_exits_2_in_one_line_on_a_missing_database(
    tmp_path: Path, postgres_database: str
) -> None:
    code, _, err = await run_cli(
        "console",
        cwd=tmp_path,
        env={
            "BYOK_MASTER_KEYS": generate_master_key(),
            "DATABASE_URL": postgres.database_url("byok_test_does_not_exist"),
        },
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "does not exist" in lines[0], err
    assert "Traceback" not in err


# Keys at rest


async def test_no_plaintext_key_in_any_row(
    postgres_url: str, fake_openai: FakeOpenAI, master_key: str
) -> None:
    services = await open_services(
        make_settings(fake_openai, master_keys=master_key, database_url=postgres_url)
    )
    try:
        keys = [await with_key(services, fake_openai, member(f"user{i}")) for i in range(3)]
        await services.core.handle_message(ask(member("user0"), "hello"), RecordingSink())
        await services.commands.remove_key(member("user1"))
        await services.ledger.flush()
    finally:
        await services.close()
    connection = await asyncpg.connect(postgres_url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        dumped = ""
        for table in tables:
            name = table["tablename"]
            for row in await connection.fetch(f'SELECT t::text FROM "{name}" AS t'):  # noqa: S608
                dumped += str(row[0])
    finally:
        await connection.close()
    # The masked hints are there, so the dump did read the rows.
    assert "sk-proj" in dumped and "key_set" in dumped
    for key in keys:
        assert key not in dumped and key[8:40] not in dumped


async def test_only_a_turns_short_lived_rows_skip_the_wait_for_the_disk(postgres_url: str) -> None:
    """A lease is committed with synchronous_commit off, for its own transaction only: the
    next write on the same connection (a key) waits for the WAL flush again."""
    store = await PostgresStore.open(url=postgres_url, pool_size=1)
    try:
        now = datetime.now(UTC)
        lease = Lease(bucket="turns:durability", holder="h", limit=1)
        until = now + timedelta(seconds=30)
        assert await store.take_lease(lease, now=now, until=until) is None
        assert await store.renew_lease(lease, now=now, until=until)
        await store.release_lease(lease)
        async with store._pool.acquire() as connection:
            assert await connection.fetchval("SHOW synchronous_commit") == "on"
            # Inside the call itself, and nowhere else, it is off.
            inside = await connection.fetchval(
                "SELECT current_setting('synchronous_commit')"
                " FROM (SELECT byok_release_lease('turns:none', 'h')) AS call"
            )
            assert inside == "off"
            assert await connection.fetchval("SHOW synchronous_commit") == "on"
    finally:
        await store.close()


# The point reader: a turn's reads on a connection of their own (storage/postgres/point_reader.py)


async def _keyed_store(url: str, members: list[Member]) -> PostgresStore:
    store = await PostgresStore.open(url=url, pool_size=3)
    for number, who in enumerate(members):
        sealed = f"sealed-{number}".encode()
        await store.save_key(who, sealed=sealed, masked="m", fingerprint="f", now=NOW)
    return store


def _sealed(number: int) -> bytes:
    return f"sealed-{number}".encode()


async def test_a_turns_reads_use_the_point_readers_connection_not_the_pool(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [Member("slack", "T1", f"U{i}") for i in range(3)]
    store = await _keyed_store(postgres_url, members)
    try:
        pooled: list[str] = []
        read_through_pool = store._all

        async def counted(sql: str, parameters: object = ()) -> object:
            pooled.append(sql)
            return await read_through_pool(sql, parameters)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "_all", counted)
        for number, who in enumerate(members):
            stored = await store.get_key(who)
            assert stored is not None and stored.sealed == _sealed(number)
            context = await store.turn_context(who, server="T1")
            assert [key.sealed for key in context.keys] == [_sealed(number)]
        assert pooled == []
        # Many at once: one reads on the point reader, the others through the pool, and each
        # gets its own row.
        found = await asyncio.gather(*(store.get_key(who) for who in members * 10))
        assert [key.sealed if key else None for key in found] == [
            _sealed(number) for number in range(3)
        ] * 10
        assert pooled
    finally:
        await store.close()


async def test_reads_go_on_when_the_point_readers_connection_is_killed(
    postgres_url: str,
) -> None:
    members = [Member("slack", "T1", f"U{i}") for i in range(2)]
    store = await _keyed_store(postgres_url, members)
    admin = await asyncpg.connect(postgres_url)
    try:
        reader = store._point_reader
        assert reader is not None and reader._connection is not None
        killed = reader._connection.get_server_pid()
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", killed)
        # Every read answers at once, through the pool, while a new connection is made.
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            for number, who in enumerate(members):
                stored = await store.get_key(who)
                assert stored is not None and stored.sealed == _sealed(number)
            current = reader._connection
            if current is not None and current.get_server_pid() != killed:
                break
            assert asyncio.get_running_loop().time() < deadline, "never reconnected"
            await asyncio.sleep(0.05)
        stored = await store.get_key(members[0])
        assert stored is not None and stored.sealed == _sealed(0)
    finally:
        await admin.close()
        await store.close()


async def test_a_read_cancelled_midway_leaves_no_connection_in_doubt(postgres_url: str) -> None:
    members = [Member("slack", "T1", f"U{i}") for i in range(2)]
    store = await _keyed_store(postgres_url, members)
    try:
        reader = store._point_reader
        assert reader is not None
        cut_midway = 0
        for _ in range(20):
            first = reader._connection
            read = asyncio.ensure_future(store.get_key(members[0]))
            await asyncio.sleep(0)
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read
            if read.cancelled() and first is not None:
                # That connection was mid-statement: it is closed, never handed out again.
                assert first.is_closed() and reader._connection is not first
                cut_midway += 1
            for number, who in enumerate(members):
                stored = await store.get_key(who)
                assert stored is not None and stored.sealed == _sealed(number)
            # Let the reader connect again before the next round.
            await asyncio.sleep(0.01)
        assert cut_midway > 0
    finally:
        await store.close()


async def test_connections_go_to_turns_in_the_order_they_asked(postgres_url: str) -> None:
    """A turn arriving just as a connection is given back waits behind those already
    waiting (asyncpg's own queue lets it take that connection first, again and again under
    load, and some turns then waited seconds)."""
    store = await PostgresStore.open(url=postgres_url, pool_size=2)
    try:
        pool = store._pool
        assert pool.get_max_size() == 1
        order: list[str] = []
        held, go, late_may_ask = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def turn(name: str) -> None:
            async with pool.acquire() as connection:
                order.append(name)
                await connection.fetchval("SELECT 1")

        async def holder() -> None:
            async with pool.acquire():
                order.append("holder")
                held.set()
                await go.wait()

        async def late() -> None:
            await late_may_ask.wait()
            await turn("late")

        async def trigger() -> None:
            # Woken right after the holder: the late turn becomes ready while the connection
            # is being given back, ahead of the first waiting turn's wake-up.
            await go.wait()
            late_may_ask.set()

        holding = asyncio.ensure_future(holder())
        await held.wait()
        waiting = [asyncio.ensure_future(turn(f"waiting {i}")) for i in range(3)]
        others = [asyncio.ensure_future(late()), asyncio.ensure_future(trigger())]
        for _ in range(10):
            await asyncio.sleep(0)
        go.set()
        await asyncio.gather(holding, *waiting, *others)
        assert order == ["holder", "waiting 0", "waiting 1", "waiting 2", "late"]
    finally:
        await store.close()


async def _server_connections(admin: asyncpg.Connection, database: str) -> int:
    count: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )
    return count


async def test_an_open_cancelled_while_its_reader_connects_leaves_nothing_open(
    fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await PostgresStore.migrate(url=fresh_postgres_url)
    database = fresh_postgres_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(fresh_postgres_url)
    connecting = asyncio.Event()

    async def slow_connect(self: point_reader.PointReader) -> None:
        # A server slow to take one more connection, and start-up interrupted meanwhile.
        connecting.set()
        await asyncio.sleep(30)

    monkeypatch.setattr(point_reader.PointReader, "connect", slow_connect)
    try:
        opening = asyncio.ensure_future(PostgresStore.open(url=fresh_postgres_url, pool_size=3))
        await connecting.wait()
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        deadline = asyncio.get_running_loop().time() + 5
        while await _server_connections(admin, database):
            assert asyncio.get_running_loop().time() < deadline, "a connection was left open"
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def test_a_reader_connection_gone_silent_costs_a_turn_seconds_not_minutes(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NAT or firewall that forgets an idle flow answers nothing on it, while new flows
    work: the read is given up after READ_TIMEOUT_SECONDS and made through the pool."""
    monkeypatch.setattr(point_reader, "READ_TIMEOUT_SECONDS", 0.5)
    flows = 0
    silent: set[int] = set()
    pipes: list[asyncio.Task[None]] = []

    async def pipe(source: asyncio.StreamReader, to: asyncio.StreamWriter, flow: int) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if flow not in silent:
                    to.write(data)
        to.close()

    async def forward(client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        nonlocal flows
        server_in, server_out = await asyncio.open_connection("127.0.0.1", 5432)
        flow, flows = flows, flows + 1
        pipes.append(asyncio.ensure_future(pipe(client_in, server_out, flow)))
        pipes.append(asyncio.ensure_future(pipe(server_in, client_out, flow)))

    relay = await asyncio.start_server(forward, "127.0.0.1", 0)
    port = relay.sockets[0].getsockname()[1]
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    store = await PostgresStore.open(url=url, pool_size=3)
    try:
        await store.save_key(ALICE, sealed=b"sealed", masked="m", fingerprint="f", now=NOW)
        reader = store._point_reader
        assert reader is not None and reader._connection is not None
        gone_silent = reader._connection
        silent.update(range(flows))
        # What asyncpg does to the pool's connections after 300 s idle.
        await store._pool._pool.expire_connections()
        started = asyncio.get_running_loop().time()
        stored = await asyncio.wait_for(store.get_key(ALICE), 10)
        assert stored is not None and stored.sealed == b"sealed"
        assert asyncio.get_running_loop().time() - started < 5
        assert reader._connection is not gone_silent
    finally:
        store._pool.terminate()
        if store._point_reader is not None and store._point_reader._connection is not None:
            store._point_reader._connection.terminate()
        relay.close()
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
