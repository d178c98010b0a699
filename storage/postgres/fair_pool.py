"""asyncpg's pool, with its connections handed out first come, first served.

asyncpg keeps idle connections in an asyncio.Queue. A task woken for a connection that was
just given back runs only later, and a task arriving in between takes that connection
first; the woken one then queues again at the end. With every connection busy (a few
connections, a hundred turns), some turns lose that race again and again: in `make bench`
a turn's one-statement calls waited up to two seconds while most waited a few
milliseconds. asyncio.Semaphore has no such gap (a new arrival waits behind those already
waiting), so a turn takes a permit before it takes a connection; with as many permits as
connections, the pool itself never has anyone waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy


class FairPool:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool
        self._turns = asyncio.Semaphore(pool.get_max_size())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_size={self._pool.get_max_size()})"

    def get_max_size(self) -> int:
        return self._pool.get_max_size()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        async with self._turns, self._pool.acquire() as connection:
            yield connection

    async def fetch(self, sql: str, *parameters: Any) -> list[asyncpg.Record]:
        async with self._turns:
            return await self._pool.fetch(sql, *parameters)

    async def fetchrow(self, sql: str, *parameters: Any) -> asyncpg.Record | None:
        async with self._turns:
            return await self._pool.fetchrow(sql, *parameters)

    async def execute(self, sql: str, *parameters: Any) -> str:
        async with self._turns:
            return await self._pool.execute(sql, *parameters)

    async def close(self) -> None:
        await self._pool.close()

    def terminate(self) -> None:
        self._pool.terminate()
