"""Serving a fake on 127.0.0.1 at a free port the OS picks."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from aiohttp import web


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start `app`; the caller owns the runner and calls `cleanup()` on it."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and isinstance(server, asyncio.base_events.Server)
    return runner, server.sockets[0].getsockname()[1]


def free_port() -> int:
    """A port nothing listens on right now, for a process the test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(condition: Callable[[], bool], *, within: float = 30.0) -> None:
    """Until `condition()` holds, for something another process or task does."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)
