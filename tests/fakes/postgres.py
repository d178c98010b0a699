"""PostgreSQL for the tests: a fresh database per test session on the machine's server,
emptied before each test that asks for it and dropped at the end; and a loopback fake of a
server that refuses the password, which a trust-auth server cannot be made to do."""

from __future__ import annotations

import asyncio
import os
import secrets
import struct
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.postgres import PostgresStore

# The maintenance database of the server every machine of this project runs (trust auth).
SERVER_URL = os.environ.get(
    "BYOK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DATABASE_PREFIX = "byok_test_"

T = TypeVar("T")


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to the end on a loop of its own, in a thread: a session fixture sets the
    database up outside every test's event loop, and must not touch the thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


def database_url(name: str, server_url: str = SERVER_URL) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def unreachable_reason(server_url: str = SERVER_URL) -> str | None:
    """Why the server cannot be used for tests, or None when it can."""
    try:
        connection = await asyncpg.connect(server_url, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        where = urlsplit(server_url).netloc.rpartition("@")[2]
        return f"no PostgreSQL server at {where} ({type(error).__name__}: {error})"
    await connection.close()
    return None


async def create_database(server_url: str = SERVER_URL, *, prefix: str = DATABASE_PREFIX) -> str:
    """A new empty database with a random name; returns the name."""
    name = f"{prefix}{secrets.token_hex(6)}"
    connection = await asyncpg.connect(server_url, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def migrated_database(server_url: str = SERVER_URL) -> str:
    """A new database at this code's schema, as `byok-bot migrate` leaves it; returns the
    name."""
    name = await create_database(server_url)
    await PostgresStore.migrate(url=database_url(name, server_url))
    return name


async def drop_database(name: str, server_url: str = SERVER_URL) -> None:
    connection = await asyncpg.connect(server_url, timeout=5)
    try:
        # FORCE: a store a failed test left open must not keep the database alive.
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def empty_tables(url: str) -> None:
    """Every row of every byok-bot table gone, the schema and its version kept: a clean
    store for the next test, much faster than a new database."""
    connection = await asyncpg.connect(url, timeout=5)
    try:
        tables = [
            row["tablename"]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = current_schema() AND tablename <> 'schema_version'"
            )
        ]
        if tables:
            listed = ", ".join(f'"{table}"' for table in tables)
            await connection.execute(f"TRUNCATE {listed} RESTART IDENTITY")
    finally:
        await connection.close()


class PasswordRefusingServer:
    """Speaks just enough of PostgreSQL's wire protocol to ask for a password and refuse it
    the way a real server does (SQLSTATE 28P01), so asyncpg raises what it raises then."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.port = 0
        self.passwords_offered = 0

    async def start(self) -> PasswordRefusingServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!i", await reader.readexactly(4))
                body = await reader.readexactly(length - 4)
                (code,) = struct.unpack("!i", body[:4])
                # SSL and GSS encryption requests: "not here", then the real startup follows.
                if code in (80877103, 80877104):
                    writer.write(b"N")
                    await writer.drain()
                    continue
                break
            # AuthenticationCleartextPassword.
            writer.write(b"R" + struct.pack("!ii", 8, 3))
            await writer.drain()
            kind = await reader.readexactly(1)
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            await reader.readexactly(length - 4)
            if kind == b"p":
                self.passwords_offered += 1
            fields = b"".join(
                tag + text.encode() + b"\0"
                for tag, text in (
                    (b"S", "FATAL"),
                    (b"V", "FATAL"),
                    (b"C", "28P01"),
                    (b"M", "password authentication failed"),
                )
            )
            writer.write(b"E" + struct.pack("!i", len(fields) + 5) + fields + b"\0")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
