"""The process's one HTTP server: /healthz, /readyz, /metrics, and Slack's events path in
Slack HTTP mode (the Slack adapter attaches to it while it is up).

Owned by the composition root, not by the Slack adapter, so health checks keep being answered
while Slack is unreachable and its adapter waits to be rebuilt, and in Discord-only and
console runs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot.ports import Store

if TYPE_CHECKING:
    # Only a type: Discord-only and console runs never import slack_bolt.
    from adapters.slack.runner import Handler

log = logging.getLogger(__name__)

# Every interface, as Slack's HTTP mode needs behind a proxy and a container's health check
# or a Prometheus server on another machine need; tests point it at 127.0.0.1.
DEFAULT_HOST = "0.0.0.0"  # noqa: S104
# A health check that waits longer than this on the database reports it as not ready.
DATABASE_CHECK_SECONDS = 2.0


class HttpPortError(Exception):
    """The port cannot be listened on; the message is one line naming BYOK_HTTP_PORT."""


async def database_ready(store: Store) -> bool:
    """One cheap read, bounded in time: a locked or lost database is "not ready"."""
    try:
        await asyncio.wait_for(store.count_keys(), DATABASE_CHECK_SECONDS)
    except Exception as error:
        log.warning("readyz: the database did not answer (%s)", error)
        return False
    return True


class HttpServer:
    def __init__(
        self,
        *,
        port: int,
        waiting_for: Callable[[], Awaitable[list[str]]],
        metrics: Callable[[], Awaitable[bytes]],
        metrics_content_type: str,
        serves_slack: bool = False,
        host: str = DEFAULT_HOST,
    ) -> None:
        """`serves_slack`: Slack HTTP mode, whose events arrive on this server (bolt's
        handler, attached by the adapter, answers only on its own path)."""
        self._host = host
        self._port = port
        self._waiting_for = waiting_for
        self._metrics = metrics
        self._metrics_content_type = metrics_content_type
        self._serves_slack = serves_slack
        self._slack: Handler | None = None
        self._slack_install_pages: Handler | None = None
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one when asked for port 0)."""
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def _app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
                web.get("/metrics", self._metrics_page),
                web.post("/{path:.*}", self._slack_events),
                web.get("/slack/{path:.*}", self._slack_pages),
            ]
        )
        return app

    async def start(self) -> None:
        # No access log: request lines can carry query strings (see bot/redaction.py).
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise HttpPortError(
                f"BYOK_HTTP_PORT: cannot listen on {self._host}:{self._port} "
                f"({error.strerror or error}); choose another port, or set BYOK_HTTP_PORT= "
                "(empty) for no health endpoint in Discord-only and console runs"
            ) from None
        self._runner = runner
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        log.info("health and metrics on %s (/healthz, /readyz, /metrics)", self.base_url)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # The Slack adapter's side (adapters.slack.EventsEndpoint).

    def attach(self, handler: Handler, *, pages: Handler | None = None) -> None:
        self._slack = handler
        self._slack_install_pages = pages

    def detach(self, handler: Handler) -> None:
        if self._slack is handler:
            self._slack = None
            self._slack_install_pages = None

    async def _slack_pages(self, request: web.Request) -> web.StreamResponse:
        """OAuth mode's "Add to Slack" page and the redirect back from Slack."""
        pages = self._slack_install_pages
        if not self._serves_slack or pages is None:
            raise web.HTTPNotFound()
        return await pages(request)

    async def _slack_events(self, request: web.Request) -> web.StreamResponse:
        handler = self._slack
        if not self._serves_slack:
            raise web.HTTPNotFound()
        if handler is None:
            # Slack retries a delivery that failed; meanwhile the adapter reconnects.
            return _json({"error": "slack is not connected"}, status=503)
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        return _json({"alive": True})

    async def _readyz(self, request: web.Request) -> web.StreamResponse:
        waiting = await self._waiting_for()
        if waiting:
            return _json({"ready": False, "waiting_for": waiting}, status=503)
        return _json({"ready": True})

    async def _metrics_page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=await self._metrics(), headers={"Content-Type": self._metrics_content_type}
        )


def _json(body: dict[str, object], *, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")
