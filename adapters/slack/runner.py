"""Serving the app: Socket Mode when an app token is set, else signed HTTP on /slack/events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.tasks import BackgroundTasks
from bot.ports import AdapterConfigError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# What Slack answers for a token that will never work; anything else may pass.
_BAD_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "not_allowed_token_type"}
)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class EventsEndpoint(Protocol):
    """An HTTP server the process runs anyway (health and metrics), which serves Slack's
    events path while an adapter is attached: it keeps answering health checks while Slack
    is unreachable and the adapter waits to be rebuilt."""

    @property
    def base_url(self) -> str: ...

    def attach(self, handler: Handler, *, pages: Handler | None = None) -> None:
        """Serve `handler` for POST requests and `pages` (OAuth mode's install pages, which
        answer only their own paths) for GET requests under /slack/."""
        ...

    def detach(self, handler: Handler) -> None:
        """Stop serving `handler` (if it is still the one attached)."""
        ...


class SlackAdapter:
    name = "slack"

    def __init__(
        self,
        *,
        app: AsyncApp,
        tasks: BackgroundTasks,
        app_token: str | None,
        host: str,
        port: int,
        endpoint: EventsEndpoint | None = None,
        close_grace: float = 10.0,
    ) -> None:
        self.app = app
        self._tasks = tasks
        self._app_token = app_token
        self._host = host
        self._port = port
        self._close_grace = close_grace
        self._runner: web.AppRunner | None = None
        self._endpoint = endpoint
        self._attached: Handler | None = None
        self._serving = False
        self._socket: AsyncSocketModeHandler | None = None
        self._stopped = asyncio.Event()
        self._closed = False

    @property
    def mode(self) -> str:
        return "socket" if self._app_token else "http"

    @property
    def port(self) -> int:
        """The port the HTTP endpoint listens on (the real one when asked for port 0)."""
        return self._port

    @property
    def ready(self) -> bool:
        return self._serving and not self._closed

    @property
    def installs(self) -> bool:
        """OAuth mode: every workspace installed through "Add to Slack", each with its own
        bot token (found per request), rather than the one SLACK_BOT_TOKEN."""
        return self.app.oauth_flow is not None

    async def start(self) -> None:
        """Check the tokens, then connect (Socket Mode) or listen (HTTP)."""
        if self.installs:
            log.info("slack: OAuth mode, serving every workspace that installed the app")
        else:
            identity = await self._checked("SLACK_BOT_TOKEN", self.app.client.auth_test())
            log.info(
                "slack: signed in as %s in team %s (%s mode)",
                identity.get("user_id"),
                identity.get("team_id"),
                self.mode,
            )
        if self._app_token:
            # The socket client retries a refused app token forever; refuse to start instead.
            await self._checked(
                "SLACK_APP_TOKEN", self.app.client.apps_connections_open(app_token=self._app_token)
            )
            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        else:
            await self._listen()
        if self._closed:
            # close() came while this was starting; what started after it ends here.
            await self._stop_serving()
        else:
            self._serving = True

    async def _listen(self) -> None:
        server = AsyncSlackAppServer(port=self._port, path=EVENTS_PATH, app=self.app)
        pages = server.handle_get_requests if self.installs else None
        if self._endpoint is not None:
            self._attached = server.handle_post_requests
            self._endpoint.attach(self._attached, pages=pages)
            log.info("slack: listening on %s%s", self._endpoint.base_url, EVENTS_PATH)
            self._log_install_page(self._endpoint.base_url)
            return
        self._runner = web.AppRunner(server.web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        log.info("slack: listening on http://%s:%d%s", self._host, self._port, EVENTS_PATH)
        self._log_install_page(f"http://{self._host}:{self._port}")

    def _log_install_page(self, base_url: str) -> None:
        flow = self.app.oauth_flow
        if flow is not None:
            log.info(
                'slack: "Add to Slack" at %s%s (behind your public HTTPS address)',
                base_url,
                flow.install_path,
            )

    @staticmethod
    async def _checked(
        variable: str, call: Coroutine[Any, Any, AsyncSlackResponse]
    ) -> AsyncSlackResponse:
        try:
            return await call
        except SlackApiError as error:
            code = str(error.response.get("error"))
            if code in _BAD_TOKEN:
                raise AdapterConfigError(f"{variable}: Slack refused it ({code})") from None
            raise

    async def run(self) -> None:
        await self.start()
        await self._stopped.wait()

    async def wait_idle(self) -> None:
        """Until every answer and command started so far has finished (for tests)."""
        await self._tasks.idle()

    async def close(self, *, grace: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        # No new request is taken; answers already under way go on through the Web API.
        await self._stop_serving()
        await self._tasks.close(grace=self._close_grace if grace is None else grace)
        self._stopped.set()

    async def _stop_serving(self) -> None:
        self._serving = False
        attached, self._attached = self._attached, None
        if attached is not None and self._endpoint is not None:
            self._endpoint.detach(attached)
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close_async()  # type: ignore[no-untyped-call]
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
