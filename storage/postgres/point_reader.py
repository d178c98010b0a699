"""A connection of its own for a turn's reads of a few rows by key, beside the pool.

Taking a connection from asyncpg's pool and giving it back costs about as much as the read
itself on a loopback server (measured at about 0.07 ms of a 0.13 ms `SELECT 1`: the pool's
queue, its proxy and the task that shields the release). A turn's context and a key lookup
are one statement each, outside any transaction, so one plain connection serves them
whenever it is free; when it is busy with another read, broken, or being made again, the
read goes through the pool as every other statement does. It never holds a transaction or
any session state, so nothing is carried from one read to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import asyncpg

log = logging.getLogger(__name__)

# After a failed attempt to connect, reads go through the pool this long before another.
RECONNECT_PAUSE_SECONDS = 1.0
# A one-row read takes a fraction of a millisecond. Longer than this, the connection is taken
# for dead (a NAT or firewall that forgot the idle flow answers nothing, and TCP would wait
# some 15 minutes to say so): it is dropped and the pool, whose idle connections asyncpg
# recycles, reads the rows.
READ_TIMEOUT_SECONDS = 3.0


class PointReader:
    def __init__(self, *, url: str, connect_timeout: float) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._connection: asyncpg.Connection | None = None
        self._reading = False
        self._connecting: asyncio.Task[None] | None = None
        self._next_attempt = 0.0
        self._closed = False

    def __repr__(self) -> str:
        state = "connected" if self._connection is not None else "not connected"
        return f"{type(self).__name__}({state})"

    async def fetch(self, sql: str, parameters: Sequence[object]) -> list[asyncpg.Record] | None:
        """The rows, or None when this connection cannot read them now: the caller reads
        them through the pool, which also reports whatever is wrong with the statement."""
        connection = self._connection
        if connection is None or connection.is_closed():
            self._connection = None
            self._connect_soon()
            return None
        if self._reading:
            return None
        self._reading = True
        try:
            return await connection.fetch(sql, *parameters, timeout=READ_TIMEOUT_SECONDS)
        except Exception:
            # Whatever it was (the server went away, the connection broke, the statement
            # failed), the pool reads these rows and says what is wrong; this connection is
            # not trusted again, and a new one is made for later reads.
            self._drop(connection)
            return None
        except BaseException:
            # Cancelled in the middle of the protocol: the connection's state is unknown.
            self._drop(connection)
            raise
        finally:
            self._reading = False

    def _drop(self, connection: asyncpg.Connection) -> None:
        if self._connection is connection:
            self._connection = None
        connection.terminate()

    def _connect_soon(self) -> None:
        if self._closed or (self._connecting is not None and not self._connecting.done()):
            return
        if time.monotonic() < self._next_attempt:
            return
        self._connecting = asyncio.get_running_loop().create_task(
            self.connect(), name="postgres-point-reader"
        )

    async def connect(self) -> None:
        """Make the connection; a failure leaves reads to the pool until a later attempt."""
        self._next_attempt = time.monotonic() + RECONNECT_PAUSE_SECONDS
        try:
            connection = await asyncpg.connect(self._url, timeout=self._connect_timeout)
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # The pool meets the same server and says what is wrong with it.
            log.debug("the point reader's connection could not be made", exc_info=True)
            return
        except Exception:
            log.warning("the point reader's connection failed unexpectedly", exc_info=True)
            return
        if self._closed:
            await connection.close()
            return
        self._connection = connection

    async def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), self._connect_timeout)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()
