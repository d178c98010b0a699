"""A fake Discord on 127.0.0.1: REST under /api/v10 and a gateway websocket, one port.

The real discord.py client talks to it after `discord.http.Route.BASE` points here.
Every REST request the bot makes is recorded (method, path, JSON body, raw text).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.discord.gateway import FakeGateway
from tests.fakes.discord.payloads import (
    DM,
    PUBLIC_THREAD,
    FakeChannel,
    FakeFile,
    FakeGuild,
    FakeUser,
    member_payload,
    message_payload,
    now,
    snowflake,
    snowflake_on_shard,
)
from tests.fakes.discord.records import EPHEMERAL, InteractionRecord, RestCall
from tests.fakes.discord.rest import RestApi
from tests.fakes.loopback import eventually, serve_on_loopback

__all__ = ["EPHEMERAL", "FakeDiscord", "InteractionRecord", "RestCall"]

MESSAGE_CONTENT_INTENT = 1 << 15
API = "/api/v10"


class FakeDiscord:
    def __init__(
        self,
        *,
        token: str = "fake-bot-token",  # noqa: S107 - made up
        shards: int = 1,
    ) -> None:
        self.token = token
        self.bot = FakeUser("byok-bot", bot=True)
        self.application_id = snowflake()
        self.guilds: list[FakeGuild] = []
        self.channels: dict[int, FakeChannel] = {}
        self.users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.messages: dict[int, dict[str, Any]] = {}
        self.deleted: list[int] = []
        # Set to make every edit of the bot's messages fail, as when it loses a permission.
        self.refuse_edits = False
        self.calls: list[RestCall] = []
        self.commands: dict[str, dict[str, Any]] = {}
        self.command_syncs: list[str] = []
        self.interactions: dict[int, InteractionRecord] = {}
        # Files members attached, by id, as the CDN serves them; and each download asked for.
        self.files: dict[int, FakeFile] = {}
        self.downloads: list[int] = []
        self.by_token: dict[str, InteractionRecord] = {}
        self.port = 0
        self.gateway = FakeGateway(
            ready_payload=self._ready,
            guild_payloads=self._guild_payloads,
            token=token,
            shards=shards,
        )
        self._runner: web.AppRunner | None = None

    # --- set-up -------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    def api_base_for(self, client: str) -> str:
        """The REST base for one of several bot processes: its calls are recorded with
        `client`, so a test can tell which process did what."""
        return f"http://127.0.0.1:{self.port}/as/{client}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def add_user(self, name: str, *, dms_open: bool = True) -> FakeUser:
        user = FakeUser(name, dms_open=dms_open)
        self.users[user.id] = user
        return user

    def add_guild(
        self, name: str, *, owner: FakeUser, bot_permissions: int, shard: int | None = None
    ) -> FakeGuild:
        """`shard`: give the guild an id that Discord routes to that shard of the count
        GET /gateway/bot recommends."""
        guild = FakeGuild(name, owner, bot_permissions)
        if shard is not None:
            guild.id = snowflake_on_shard(shard, self.gateway.shards)
        self.guilds.append(guild)
        return guild

    def add_channel(self, guild: FakeGuild, name: str) -> FakeChannel:
        channel = guild.add_channel(name)
        self.channels[channel.id] = channel
        return channel

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient is user:
                return channel
        channel = FakeChannel(f"dm-{user.name}", type=DM, recipient=user)
        self.channels[channel.id] = channel
        return channel

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/attachments/{id}/{name}", self._cdn)
        rest = RestApi(self).handle
        app.router.add_route("*", API + "/{tail:.*}", rest)
        app.router.add_route("*", "/as/{client}" + API + "/{tail:.*}", rest)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def close(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what a test does as Discord's users ----------------------------------------------

    async def open_thread(self, owner: FakeUser, parent: FakeChannel, name: str) -> FakeChannel:
        """A member starts a thread of their own; the bot learns of it by THREAD_CREATE."""
        assert parent.guild_id is not None
        thread = FakeChannel(
            name,
            type=PUBLIC_THREAD,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=owner.id,
        )
        self.channels[thread.id] = thread
        await self.gateway.dispatch("THREAD_CREATE", {**thread.payload(), "newly_created": True})
        return thread

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _cdn(self, request: web.Request) -> web.Response:
        found = self.files.get(int(request.match_info["id"]))
        if found is None:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(found.id)
        if found.forbidden:
            return web.Response(status=403, text="Forbidden")
        return web.Response(body=found.data, content_type="application/octet-stream")

    def attach(self, files: list[FakeFile]) -> list[dict[str, Any]]:
        for file in files:
            self.files[file.id] = file
        return [file.payload(self.cdn) for file in files]

    async def post_message(
        self,
        author: FakeUser,
        channel: FakeChannel,
        content: str,
        *,
        mention_bot: bool = False,
        files: list[FakeFile] | None = None,
        reply_to: int | None = None,
    ) -> int:
        """A member writes (with files, or in reply to a message); the bot receives
        MESSAGE_CREATE."""
        if mention_bot:
            content = f"{self.bot.mention} {content}"
        message_id = snowflake()
        reference = None
        if reply_to is not None:
            reference = {
                "message_id": str(reply_to),
                "channel_id": str(channel.id),
                "fail_if_not_exists": False,
            }
            if channel.guild_id is not None:
                reference["guild_id"] = str(channel.guild_id)
        data = message_payload(
            message_id=message_id,
            channel=channel,
            author=author,
            content=content,
            mentions=[self.bot] if mention_bot else [],
            attachments=self.attach(files or []),
            reference=reference,
        )
        if reply_to is not None:
            data["referenced_message"] = self.visible(self.messages[reply_to])
        self.messages[message_id] = data
        await self.gateway.dispatch("MESSAGE_CREATE", self.visible(data))
        return message_id

    async def edit_message(self, message_id: int, content: str) -> None:
        """A member edits their message; the bot receives MESSAGE_UPDATE."""
        data = self.messages[message_id]
        data["content"] = content
        data["edited_timestamp"] = now()
        await self.gateway.dispatch("MESSAGE_UPDATE", self.visible(data))

    def visible(self, message: dict[str, Any]) -> dict[str, Any]:
        """As Discord does: without the privileged intent, other guild messages arrive empty
        (no text, no attachments)."""
        exempt = (
            "guild_id" not in message
            or int(message["author"]["id"]) == self.bot.id
            or any(int(u["id"]) == self.bot.id for u in message["mentions"])
        )
        if exempt or self.reads_all_content:
            return message
        return {**message, "content": "", "attachments": []}

    @property
    def reads_all_content(self) -> bool:
        identified = self.gateway.identifies[-1] if self.gateway.identifies else {}
        return bool(identified.get("intents", 0) & MESSAGE_CONTENT_INTENT)

    async def command(
        self,
        user: FakeUser,
        channel: FakeChannel,
        name: str,
        options: dict[str, str] | None = None,
        *,
        permissions: int = 0,
    ) -> InteractionRecord:
        data: dict[str, Any] = {
            "id": self.commands.get(name, {}).get("id", str(snowflake())),
            "name": name,
            "type": 1,
            "options": [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()],
        }
        return await self._interact(user, channel, 2, data, permissions=permissions)

    async def ask(
        self,
        user: FakeUser,
        channel: FakeChannel,
        question: str,
        *,
        image: FakeFile | None = None,
    ) -> InteractionRecord:
        """/ask, with an image option as Discord sends one: its id, resolved in `resolved`."""
        options: list[dict[str, Any]] = [{"name": "question", "type": 3, "value": question}]
        data: dict[str, Any] = {
            "id": self.commands.get("ask", {}).get("id", str(snowflake())),
            "name": "ask",
            "type": 1,
            "options": options,
        }
        if image is not None:
            options.append({"name": "image", "type": 11, "value": str(image.id)})
            [payload] = self.attach([image])
            data["resolved"] = {"attachments": {str(image.id): payload}}
        return await self._interact(user, channel, 2, data)

    async def message_menu(
        self, user: FakeUser, channel: FakeChannel, name: str, message_id: int
    ) -> InteractionRecord:
        """A member picks an app's entry in a message's menu (a context-menu command)."""
        data = {
            "id": self.commands[name]["id"],
            "name": name,
            "type": 3,
            "target_id": str(message_id),
            # Discord sends the target whole, content included, even without the intent.
            "resolved": {"messages": {str(message_id): self.messages[message_id]}},
        }
        return await self._interact(user, channel, 2, data)

    async def autocomplete(
        self, user: FakeUser, channel: FakeChannel, name: str, option: str, value: str
    ) -> InteractionRecord:
        data = {
            "id": self.commands[name]["id"],
            "name": name,
            "type": 1,
            "options": [{"name": option, "type": 3, "value": value, "focused": True}],
        }
        return await self._interact(user, channel, 4, data)

    async def submit_modal(
        self, opened: InteractionRecord, *values: str, permissions: int = 0
    ) -> InteractionRecord:
        """The member fills the modal the bot answered `opened` with, in field order."""
        modal = opened.modal
        assert modal is not None, "the bot did not answer with a modal"
        remaining = list(values)

        def fill(component: dict[str, Any]) -> dict[str, Any]:
            if component["type"] == 1:
                return {"type": 1, "components": [fill(c) for c in component["components"]]}
            if component["type"] == 18:
                return {"type": 18, "component": fill(component["component"])}
            return {"type": component["type"], "custom_id": component["custom_id"],
                    "value": remaining.pop(0)}  # fmt: skip

        data = {
            "custom_id": modal["custom_id"],
            "components": [fill(c) for c in modal["components"]],
        }
        assert not remaining, "more values than fields in the modal"
        return await self._interact(opened.user, opened.channel, 5, data, permissions=permissions)

    async def _interact(
        self,
        user: FakeUser,
        channel: FakeChannel,
        kind: int,
        data: dict[str, Any],
        *,
        permissions: int = 0,
    ) -> InteractionRecord:
        record = InteractionRecord(snowflake(), secrets.token_urlsafe(24), user, channel)
        self.interactions[record.id] = record
        self.by_token[record.token] = record
        payload: dict[str, Any] = {
            "id": str(record.id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": record.token,
            "version": 1,
            "data": data,
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10_485_760,
            "context": 1 if channel.type == DM else 0,
        }
        if channel.guild_id is not None:
            guild = self.guild(channel.guild_id)
            payload["guild_id"] = str(guild.id)
            payload["guild_locale"] = "en-US"
            payload["member"] = member_payload(user, permissions=permissions)
            payload["app_permissions"] = str(guild.bot_permissions)
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
        else:
            payload["user"] = user.payload()
            payload["authorizing_integration_owners"] = {"1": str(user.id)}
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return record

    # --- what a test asserts ----------------------------------------------------------------

    async def wait_for(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Poll until `condition` holds; the bot works in its own tasks, so there is no hook."""
        await eventually(condition, within=within)

    def rest(self, method: str, path_part: str = "") -> list[RestCall]:
        return [c for c in self.calls if c.method == method and path_part in c.path]

    def bot_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.values()
            if int(m["channel_id"]) == channel_id
            and int(m["author"]["id"]) == self.bot.id
            and int(m["id"]) not in self.deleted
        ]

    def threads(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.type == PUBLIC_THREAD]

    def dms_to(self, user: FakeUser) -> list[str]:
        return [m["content"] for m in self.bot_messages(self.dm_channel(user).id)]

    # --- gateway payloads -------------------------------------------------------------------

    def _ready(self, session_id: str) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.guilds],
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    def _guild_payloads(self) -> list[dict[str, Any]]:
        return [g.payload(self.bot) for g in self.guilds]

    def guild(self, guild_id: int) -> FakeGuild:
        return next(g for g in self.guilds if g.id == guild_id)
