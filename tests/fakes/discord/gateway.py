"""The fake gateway: MESSAGE_CONTENT = 1 << 15
HELLO, IDENTIFY/READY, heartbeats, dispatches, RESUME, zlib-stream."""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

MESSAGE_CONTENT = 1 << 15
HELLO, IDENTIFY, RESUME, HEARTBEAT, HEARTBEAT_ACK, DISPATCH, INVALID_SESSION = 10, 2, 6, 1, 11, 0, 9


@dataclass
class GatewayConnection:
    ws: web.WebSocketResponse
    request: web.Request
    # One compressor per connection, as Discord does: the client keeps one inflater.
    compressor: Any | None
    ready: bool = False

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        if self.compressor is None:
            await self.ws.send_str(text)
            return
        frame = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert frame.endswith(b"\x00\x00\xff\xff")
        await self.ws.send_bytes(frame)


@dataclass
class FakeGateway:
    """Session state survives a dropped socket, so a RESUME replays what was missed."""

    ready_payload: Callable[[str], dict[str, Any]]
    guild_payloads: Callable[[], list[dict[str, Any]]]
    token: str
    heartbeat_interval_ms: int = 5_000
    # Whether the developer portal has the Message Content intent switched on.
    message_content_allowed: bool = True
    session_id: str = ""
    sequence: int = 0
    # (sequence, payload) of every dispatch in this session, for RESUME replays.
    log: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    connection: GatewayConnection | None = None
    identifies: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    heartbeat_acks: int = 0
    compressed_connections: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        compressed = request.query.get("compress") == "zlib-stream"
        self.compressed_connections += compressed
        connection = GatewayConnection(ws, request, zlib.compressobj() if compressed else None)
        self.connection = connection
        await connection.send(
            {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    break
                await self._receive(connection, json.loads(message.data))
        finally:
            if self.connection is connection:
                self.connection = None
                self.connected.clear()
        return ws

    async def _receive(self, connection: GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload["op"]
        raw = payload.get("d")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if op == HEARTBEAT:
            self.heartbeats += 1
            await connection.send({"op": HEARTBEAT_ACK, "d": None})
            self.heartbeat_acks += 1
        elif op == IDENTIFY:
            assert data["token"] == self.token, "IDENTIFY with the wrong token"
            if data.get("intents", 0) & MESSAGE_CONTENT and not self.message_content_allowed:
                await connection.ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            self.identifies.append(data)
            self.session_id = secrets.token_hex(8)
            self.sequence = 0
            self.log.clear()
            connection.ready = True
            self.connected.set()
            await self._dispatch_now("READY", self.ready_payload(self.session_id))
            for guild in self.guild_payloads():
                await self._dispatch_now("GUILD_CREATE", guild)
        elif op == RESUME:
            self.resumes.append(data)
            if data["session_id"] != self.session_id or data["token"] != self.token:
                await connection.send({"op": INVALID_SESSION, "d": False})
                return
            connection.ready = True
            for sequence, missed in self.log:
                if sequence > (data["seq"] or 0):
                    await connection.send(missed)
            await self._dispatch_now("RESUMED", {})
            self.connected.set()

    async def _dispatch_now(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        payload = {"op": DISPATCH, "t": event, "s": self.sequence, "d": data}
        self.log.append((self.sequence, payload))
        connection = self.connection
        if connection is not None and connection.ready:
            await connection.send(payload)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event now, or keep it for the RESUME when the socket is down."""
        await self._dispatch_now(event, data)

    async def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        connection = self.connection
        assert connection is not None, "no gateway connection to drop"
        self.connection = None
        self.connected.clear()
        transport = connection.request.transport
        assert transport is not None
        transport.abort()

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.ws.close()
