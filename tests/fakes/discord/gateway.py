"""The fake gateway: HELLO, IDENTIFY/READY, heartbeats, dispatches, RESUME, zlib-stream, shards.

Each IDENTIFY opens a session. A session that identified with `shard: [id, count]` is sent
only the events of guilds where `(guild_id >> 22) % count == id`, and events outside any guild
(DMs) only on shard 0, as Discord does; a session without `shard` gets everything."""

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
# Close codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
DISALLOWED_INTENTS, INVALID_SHARD, SHARDING_REQUIRED = 4014, 4010, 4011


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's rule for which shard receives a guild's events."""
    return (guild_id >> 22) % shard_count


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
class GatewaySession:
    """Outlives a dropped socket, so a RESUME replays what was missed."""

    session_id: str
    # [shard_id, shard_count] as IDENTIFY gave it; None for an unsharded session.
    shard: tuple[int, int] | None
    sequence: int = 0
    # (sequence, payload) of every dispatch this session was sent (or kept for its RESUME).
    log: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    connection: GatewayConnection | None = None

    def serves(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, shard_count) == shard_id

    def received(self, event: str) -> list[dict[str, Any]]:
        """The data of every `event` dispatched to this session."""
        return [payload["d"] for _, payload in self.log if payload["t"] == event]

    async def send(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        payload = {"op": DISPATCH, "t": event, "s": self.sequence, "d": data}
        self.log.append((self.sequence, payload))
        connection = self.connection
        if connection is not None and connection.ready:
            await connection.send(payload)


@dataclass
class FakeGateway:
    ready_payload: Callable[[str], dict[str, Any]]
    guild_payloads: Callable[[], list[dict[str, Any]]]
    token: str
    heartbeat_interval_ms: int = 5_000
    # Whether the developer portal has the Message Content intent switched on.
    message_content_allowed: bool = True
    # What GET /gateway/bot recommends.
    shards: int = 1
    # As for a bot in more than 2,500 guilds: an IDENTIFY without `shard` is closed with 4011.
    sharding_required: bool = False
    # The live session of each shard (None: unsharded); a new IDENTIFY replaces its shard's.
    sessions: dict[tuple[int, int] | None, GatewaySession] = field(default_factory=dict)
    identifies: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    heartbeat_acks: int = 0
    compressed_connections: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def session_id(self) -> str:
        """The newest session's id."""
        return self.latest.session_id if self.sessions else ""

    @property
    def latest(self) -> GatewaySession:
        return list(self.sessions.values())[-1]

    def session(self, shard_id: int) -> GatewaySession:
        """The live session of `shard_id`, whatever count it identified with."""
        return next(s for s in self.sessions.values() if s.shard and s.shard[0] == shard_id)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        compressed = request.query.get("compress") == "zlib-stream"
        self.compressed_connections += compressed
        connection = GatewayConnection(ws, request, zlib.compressobj() if compressed else None)
        await connection.send(
            {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    break
                await self._receive(connection, json.loads(message.data))
        finally:
            self._detach(connection)
        return ws

    def _detach(self, connection: GatewayConnection) -> None:
        for session in self.sessions.values():
            if session.connection is connection:
                session.connection = None
        if not any(s.connection for s in self.sessions.values()):
            self.connected.clear()

    async def _receive(self, connection: GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload["op"]
        raw = payload.get("d")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if op == HEARTBEAT:
            self.heartbeats += 1
            await connection.send({"op": HEARTBEAT_ACK, "d": None})
            self.heartbeat_acks += 1
        elif op == IDENTIFY:
            await self._identify(connection, data)
        elif op == RESUME:
            self.resumes.append(data)
            session = next(
                (s for s in self.sessions.values() if s.session_id == data["session_id"]), None
            )
            if session is None or data["token"] != self.token:
                await connection.send({"op": INVALID_SESSION, "d": False})
                return
            session.connection = connection
            connection.ready = True
            for sequence, missed in session.log:
                if sequence > (data["seq"] or 0):
                    await connection.send(missed)
            await session.send("RESUMED", {})
            self.connected.set()

    async def _identify(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        assert data["token"] == self.token, "IDENTIFY with the wrong token"
        if data.get("intents", 0) & MESSAGE_CONTENT and not self.message_content_allowed:
            await connection.ws.close(code=DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return
        shard: tuple[int, int] | None = None
        if "shard" in data:
            shard_id, shard_count = data["shard"]
            if not 0 <= shard_id < shard_count:
                await connection.ws.close(code=INVALID_SHARD, message=b"Invalid shard.")
                return
            shard = (shard_id, shard_count)
        elif self.sharding_required:
            await connection.ws.close(code=SHARDING_REQUIRED, message=b"Sharding required.")
            return
        self.identifies.append(data)
        session = GatewaySession(secrets.token_hex(8), shard, connection=connection)
        self.sessions.pop(shard, None)
        self.sessions[shard] = session
        connection.ready = True
        self.connected.set()
        ready = self.ready_payload(session.session_id)
        ready["guilds"] = [g for g in ready["guilds"] if session.serves(int(g["id"]))]
        if shard is not None:
            ready["shard"] = list(shard)
        await session.send("READY", ready)
        for guild in self.guild_payloads():
            if session.serves(int(guild["id"])):
                await session.send("GUILD_CREATE", guild)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the session(s) of its guild's shard now, or keep it for their
        RESUME while the socket is down."""
        guild = data.get("id") if event.startswith("GUILD_") else data.get("guild_id")
        guild_id = int(guild) if guild is not None else None
        for session in list(self.sessions.values()):
            if session.serves(guild_id):
                await session.send(event, data)

    async def drop(self, shard_id: int | None = None) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        session = self.latest if shard_id is None else self.session(shard_id)
        connection = session.connection
        assert connection is not None, "no gateway connection to drop"
        self._detach(connection)
        transport = connection.request.transport
        assert transport is not None
        transport.abort()

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            if session.connection is not None:
                await session.connection.ws.close()
