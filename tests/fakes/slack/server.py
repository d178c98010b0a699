"""A fake Slack Web API that the real slack_sdk talks to; it records every call it receives.

It also keeps the messages posted (so `conversations.replies` shows the thread), serves the
`response_url` of slash commands, and a Socket Mode websocket (`apps.connections.open`).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from adapters.slack.texts import THINKING
from tests.fakes.loopback import serve_on_loopback

TEAM = "T0001"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0001"
# A test waiting longer than this for a request is failing, not slow.
WAIT_LIMIT = 10.0


@dataclass(frozen=True)
class ApiCall:
    method: str
    args: dict[str, Any]
    authorization: str | None
    # Query string, body and headers as received: what "absent from every request" checks.
    raw: str

    @property
    def token(self) -> str | None:
        """The token the call was made with (a Bearer token, or a `token` argument)."""
        if self.authorization and self.authorization.startswith("Bearer "):
            return self.authorization.removeprefix("Bearer ")
        token = self.args.get("token")
        return str(token) if token else None


@dataclass(frozen=True)
class Workspace:
    """A workspace that installed the app through OAuth: its own bot token."""

    team: str
    bot_token: str
    enterprise: str | None = None
    org_install: bool = False
    installer: str = "UINSTALLER"


@dataclass(frozen=True)
class SlackFile:
    """A file a member shared: served at `url_private` to requests carrying the bot token."""

    id: str
    name: str
    data: bytes
    mimetype: str = "application/octet-stream"
    # What Slack says its size is; by default the real one.
    size: int | None = None
    # The workspace it was shared in (OAuth mode): only that workspace's bot token reads it.
    team: str | None = None


@dataclass
class FakeSlack:
    team: str = TEAM
    # The token `url_private` downloads must carry (the Web API itself does not check it).
    bot_token: str = "xoxb-test-bot-token"
    enterprise: str | None = None
    # False answers chat.startStream with `unknown_method`, like a Slack without streaming.
    streaming: bool = True
    # method -> error code to answer with (ok: false).
    errors: dict[str, str] = field(default_factory=dict)
    # Methods that answer HTTP 429 with Retry-After this many times before working.
    rate_limited: dict[str, int] = field(default_factory=dict)
    # users.info: who is a workspace admin, owner or primary owner; everyone else is neither.
    admins: set[str] = field(default_factory=set)
    owners: set[str] = field(default_factory=set)
    primary_owners: set[str] = field(default_factory=set)
    # Enterprise Grid org admins and owners (users.info `enterprise_user`).
    org_admins: set[str] = field(default_factory=set)
    org_owners: set[str] = field(default_factory=set)
    # users.info profile names: user -> (display name, real name); everyone has an email.
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    calls: list[ApiCall] = field(default_factory=list)
    # OAuth: the app's credentials, the codes handed out (each used once) and every bot
    # token issued, by token.
    client_id: str = "1000.2000"
    client_secret: str = "fake-client-secret"
    codes: dict[str, Workspace] = field(default_factory=dict)
    installed: dict[str, Workspace] = field(default_factory=dict)
    # Posts to a slash command's response_url.
    responses: list[ApiCall] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The bot scopes an install grants.
    bot_scopes: tuple[str, ...] = ("app_mentions:read", "chat:write")
    files: dict[str, SlackFile] = field(default_factory=dict)
    # Longer ephemeral texts are refused with msg_too_long.
    ephemeral_limit: int = 40_000
    # The app is an AI assistant: assistant.threads.setStatus works in DM threads.
    assistant: bool = False
    # Every status set, as (thread_ts, status); and every message the bot deleted.
    statuses: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    # Each file download: (file id, the Authorization header it came with).
    downloads: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response/{name}"

    def next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/files-pri/{id}/{name}", self._file)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests look at -------------------------------------------------------------

    def authorize(
        self,
        team: str,
        *,
        enterprise: str | None = None,
        org_install: bool = False,
        installer: str = "UINSTALLER",
    ) -> str:
        """What Slack does when an admin approves the install: a code for the redirect, which
        oauth.v2.access exchanges once for a bot token of this workspace's own."""
        code = f"code-{team}-{next(self._ts)}"
        token = f"xoxb-{team}-{next(self._ts)}-fakebottoken"
        self.codes[code] = Workspace(team, token, enterprise, org_install, installer)
        return code

    def tokens_used(self, method: str) -> list[str | None]:
        return [call.token for call in self.calls_to(method)]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def methods(self) -> list[str]:
        """Every method called, except the `auth.test` that start-up and bolt make."""
        return [call.method for call in self.calls if call.method != "auth.test"]

    def everything_received(self) -> str:
        return "\n".join(call.raw for call in [*self.calls, *self.responses])

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.get(channel, [])
            if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts
        ]

    def bot_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """What the bot posted in that thread."""
        return [m for m in self.thread(channel, thread_ts) if m.get("user") == BOT_USER]

    def answers(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's replies in that thread that are answers, not its "Thinking…" note."""
        return [m for m in self.bot_replies(channel, thread_ts) if m["text"] != THINKING]

    def add_member_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> str:
        ts = self.next_ts()
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts}
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        self.messages.setdefault(channel, []).append(message)
        return ts

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Until `condition` holds, re-checked after every request the fake receives."""
        async with asyncio.timeout(WAIT_LIMIT):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def share(self, file: SlackFile) -> dict[str, Any]:
        """The file object a message event carries for `file`."""
        self.files[file.id] = file
        url = f"{self.url}/files-pri/{file.id}/{file.name}"
        return {
            "id": file.id,
            "name": file.name,
            "title": file.name,
            "mimetype": file.mimetype,
            "size": len(file.data) if file.size is None else file.size,
            "url_private": url,
            "url_private_download": url + "?download=1",
        }

    async def _file(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        file = self.files.get(request.match_info["id"])
        self.downloads.append((request.match_info["id"], auth))
        self._changed.set()
        if file is None:
            return web.Response(status=404, text="file_not_found")
        token = (auth or "").removeprefix("Bearer ")
        installed = self.installed.get(token)
        allowed = (
            token == self.bot_token
            if file.team is None
            else installed is not None and installed.team == file.team
        )
        if not allowed:
            return web.Response(status=403, text="Forbidden")
        return web.Response(body=file.data, content_type=file.mimetype)

    # --- Web API ----------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.text()
        args: dict[str, Any] = dict(request.query)
        if body:
            if request.content_type == "application/json":
                args.update(json.loads(body))
            else:
                args.update(parse_qsl(body))
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        self.calls.append(
            ApiCall(
                method,
                args,
                request.headers.get("Authorization"),
                f"{request.method} {request.path_qs}\n{headers}\n\n{body}",
            )
        )
        self._changed.set()
        if method in self.errors:
            return web.json_response({"ok": False, "error": self.errors[method]})
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"}
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        result: dict[str, Any] = (
            handler({**args, **_credentials(request.headers.get("Authorization"))})
            if handler is not None
            else {}
        )
        if "error" in result:
            return web.json_response({"ok": False, **result})
        return web.json_response({"ok": True, **result})

    def _workspace(self, args: dict[str, Any]) -> Workspace | None:
        token = args.get("_token")
        return self.installed.get(token) if isinstance(token, str) else None

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        """Per token: an installed workspace's token names that workspace; any other token
        is the single-token mode's, in `team`; a revoked one is refused."""
        workspace = self._workspace(args)
        if workspace is None and str(args.get("_token") or "").startswith("xoxb-revoked"):
            return {"error": "invalid_auth"}
        return {
            "url": "https://fake.slack.test/",
            "team": "Fake team",
            "user": "byok",
            "team_id": workspace.team if workspace else self.team,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "enterprise_id": workspace.enterprise if workspace else self.enterprise,
            "is_enterprise_install": workspace.org_install if workspace else False,
        }

    def _m_oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        """The app's id and secret (HTTP Basic, as slack_sdk sends them) and a code this fake
        issued and nobody used yet, else Slack's own errors."""
        basic = str(args.get("_basic") or "")
        if basic != f"{self.client_id}:{self.client_secret}":
            return {
                "error": "invalid_client_id"
                if not basic.startswith(self.client_id)
                else "bad_client_secret"
            }
        workspace = self.codes.pop(str(args.get("code") or ""), None)
        if workspace is None:
            return {"error": "invalid_code"}
        self.installed[workspace.bot_token] = workspace
        enterprise = (
            {"id": workspace.enterprise, "name": "Fake Grid"} if workspace.enterprise else None
        )
        return {
            "app_id": APP_ID,
            "authed_user": {"id": workspace.installer},
            "scope": ",".join(self.bot_scopes),
            "token_type": "bot",
            "access_token": workspace.bot_token,
            "bot_user_id": BOT_USER,
            "team": None if workspace.org_install else {"id": workspace.team, "name": "Fake team"},
            "enterprise": enterprise,
            "is_enterprise_install": workspace.org_install,
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}

    def _post(self, args: dict[str, Any], text: str) -> dict[str, Any]:
        channel = str(args["channel"])
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "text": text,
            "ts": self.next_ts(),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": message}

    def _find(self, args: dict[str, Any]) -> dict[str, Any] | None:
        for message in self.messages.get(str(args.get("channel")), []):
            if message["ts"] == args.get("ts"):
                return message
        return None

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._post(args, str(args.get("text", "")))

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        """`text` is what members see, as Slack shows it: a streamed message's content is in
        markdown blocks, which an update carrying only `text` leaves as they were."""
        message = self._find(args)
        if message is None:
            return {"error": "message_not_found"}
        if args.get("markdown_text") is not None:
            message["text"] = str(args["markdown_text"])
        elif message.get("in_blocks"):
            message["notification_text"] = args.get("text", "")
        else:
            message["text"] = args.get("text", "")
        return {"channel": args["channel"], "ts": args["ts"]}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users or "," in users:
            return {"error": "invalid_users"}
        return {"channel": {"id": "D" + users.removeprefix("U")}}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._find(args)
        if message is None:
            return {"error": "message_not_found"}
        self.messages[str(args["channel"])].remove(message)
        self.deleted.append(message)
        return {"channel": args["channel"], "ts": args["ts"]}

    def _m_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.assistant:
            return {"error": "not_allowed"}
        self.statuses.append((str(args["thread_ts"]), str(args.get("status", ""))))
        return {}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if len(str(args.get("text") or "")) > self.ephemeral_limit:
            return {"error": "msg_too_long"}
        return {"message_ts": self.next_ts()}

    @staticmethod
    def _stream_text(args: dict[str, Any]) -> str:
        text = str(args.get("markdown_text") or "")
        for chunk in args.get("chunks") or []:
            text += str(chunk.get("text", ""))
        return text

    def _m_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.streaming:
            return {"error": "unknown_method"}
        posted = self._post(args, self._stream_text(args))
        posted["message"]["in_blocks"] = True
        return posted

    def _m_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._find(args)
        if message is None or message.get("stopped"):
            return {"error": "message_not_in_streaming_state"}
        message["text"] += self._stream_text(args)
        return {"channel": args["channel"], "ts": args["ts"]}

    def _m_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._find(args)
        if message is None or message.get("stopped"):
            return {"error": "message_not_in_streaming_state"}
        message["text"] += self._stream_text(args)
        message["stopped"] = True
        return {"channel": args["channel"], "ts": args["ts"], "message": message}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """Oldest first, `limit` at a time, with a cursor, as Slack pages a thread."""
        thread = self.thread(str(args["channel"]), str(args["ts"]))
        if args.get("latest"):
            thread = [m for m in thread if float(m["ts"]) < float(args["latest"])]
        limit = int(args.get("limit") or 1000)
        start = int(args.get("cursor") or 0)
        more = start + limit < len(thread)
        return {
            "messages": thread[start : start + limit],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        latest = float(args.get("latest") or "9e12")
        found = [
            m
            for m in self.messages.get(str(args["channel"]), [])
            if "thread_ts" not in m and float(m["ts"]) < latest
        ]
        return {"messages": list(reversed(found)), "has_more": False}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user") or "")
        if not user:
            return {"error": "user_not_found"}
        profile: dict[str, Any] = {
            "id": user,
            "team_id": self.team,
            "name": user.lower(),
            "is_admin": user in self.admins,
            "is_owner": user in self.owners or user in self.primary_owners,
            "is_primary_owner": user in self.primary_owners,
            "is_bot": user == BOT_USER,
            "profile": {
                "display_name": self.names.get(user, ("", ""))[0],
                "real_name": self.names.get(user, ("", ""))[1],
                "email": f"{user.lower()}@example.com",
            },
        }
        if self.enterprise:
            profile["enterprise_user"] = {
                "id": user,
                "enterprise_id": self.enterprise,
                "is_admin": user in self.org_admins,
                "is_owner": user in self.org_owners,
                "teams": [self.team],
            }
        return {"user": profile}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": "V0001", **self._view(args)}}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": "V0002", **self._view(args)}}

    def _m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": args.get("view_id", "V0001"), **self._view(args)}}

    @staticmethod
    def _view(args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        return json.loads(view) if isinstance(view, str) else dict(view or {})

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.responses.append(
            ApiCall(
                request.match_info["name"],
                json.loads(body) if body else {},
                request.headers.get("Authorization"),
                body,
            )
        )
        self._changed.set()
        return web.Response(text="ok")

    # --- Socket Mode --------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID}}
        )
        self._connected.set()
        try:
            async for message in socket:
                if message.type is WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if "envelope_id" in data:
                        self.acks[data["envelope_id"]] = data
                        self._changed.set()
        finally:
            self._sockets.remove(socket)
        return socket

    async def send_envelope(self, payload: dict[str, Any], *, kind: str = "events_api") -> str:
        """Deliver a request over Socket Mode; returns the envelope id the app must ack."""
        await asyncio.wait_for(self._connected.wait(), timeout=WAIT_LIMIT)
        envelope_id = f"env-{next(self._ts)}"
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id


def _credentials(authorization: str | None) -> dict[str, str]:
    """What a handler needs of the Authorization header: the bearer token (`_token`) or the
    Basic credentials, as `id:secret` (`_basic`)."""
    if authorization is None:
        return {}
    if authorization.startswith("Bearer "):
        return {"_token": authorization.removeprefix("Bearer ")}
    if authorization.startswith("Basic "):
        try:
            return {"_basic": base64.b64decode(authorization.removeprefix("Basic ")).decode()}
        except ValueError:
            return {"_basic": "?"}
    return {}
