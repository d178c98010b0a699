"""The fake Discord's REST API: the routes discord.py calls, answered from the fake's state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord.payloads import (
    CREATE_PUBLIC_THREADS,
    DM,
    GUILD_TEXT,
    MANAGE_MESSAGES,
    PUBLIC_THREAD,
    FakeChannel,
    message_payload,
    now,
    snowflake,
)
from tests.fakes.discord.records import EPHEMERAL, InteractionRecord, RestCall

if TYPE_CHECKING:
    from tests.fakes.discord.server import FakeDiscord


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when the content type is exactly this, as Discord sends it.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status=status)


class RestApi:
    def __init__(self, world: FakeDiscord) -> None:
        self.world = world

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text() if request.can_read_body else ""
        body = json.loads(raw) if raw and request.content_type == "application/json" else None
        if raw and body is None and request.content_type.startswith("multipart"):
            body = _multipart_json(raw)
        path = "/" + request.match_info["tail"]
        self.world.calls.append(
            RestCall(
                request.method,
                path,
                dict(request.query),
                request.headers.get("Authorization"),
                body,
                raw,
                request.match_info.get("client"),
            )
        )
        is_webhook = path.startswith(("/webhooks/", "/interactions/"))
        if not is_webhook and request.headers.get("Authorization") != f"Bot {self.world.token}":
            return _error(401, 0, "401: Unauthorized")
        return await self._route(request.method, path.split("/")[1:], body or {}, request)

    async def _route(
        self, method: str, parts: list[str], body: dict[str, Any], request: web.Request
    ) -> web.StreamResponse:
        match method, parts:
            case "GET", ["gateway", "bot"]:
                return _json(
                    {
                        "url": self.world.gateway_url,
                        "shards": self.world.gateway.shards,
                        "session_start_limit": {
                            "total": 1000,
                            "remaining": 999,
                            "reset_after": 0,
                            "max_concurrency": 1,
                        },
                    }
                )
            case "GET", ["users", "@me"]:
                return _json(self.world.bot.payload())
            case "GET", ["oauth2", "applications", "@me"]:
                return _json(self._application())
            case "PUT", ["applications", _, "commands"]:
                return self._sync_commands(body, guild_id=None)
            case "PUT", ["applications", _, "guilds", guild_id, "commands"]:
                return self._sync_commands(body, guild_id=guild_id)
            case "GET", ["channels", channel_id]:
                channel = self.world.channels.get(int(channel_id))
                if channel is None:
                    return _error(404, 10003, "Unknown Channel")
                return _json(channel.payload())
            case "POST", ["channels", channel_id, "typing"]:
                return web.Response(status=204)
            case "POST", ["channels", channel_id, "messages"]:
                return self._bot_sends(int(channel_id), body)
            case "GET", ["channels", channel_id, "messages"]:
                return self._history(int(channel_id), request.query)
            case "GET", ["channels", channel_id, "messages", message_id]:
                found = self.world.messages.get(int(message_id))
                if found is None or int(found["channel_id"]) != int(channel_id):
                    return _error(404, 10008, "Unknown Message")
                return _json(self.world.visible(found))
            case "PATCH", ["channels", channel_id, "messages", message_id]:
                return self._bot_edits(int(message_id), body)
            case "DELETE", ["channels", channel_id, "messages", message_id]:
                return self._delete(int(channel_id), int(message_id))
            case "POST", ["channels", channel_id, "messages", message_id, "threads"]:
                return await self._create_thread(int(channel_id), int(message_id), body)
            case "POST", ["users", "@me", "channels"]:
                user = self.world.users[int(body["recipient_id"])]
                return _json(self.world.dm_channel(user).payload())
            case "POST", ["interactions", interaction_id, token, "callback"]:
                return self._callback(int(interaction_id), token, body)
            case "PATCH", ["webhooks", _, token, "messages", "@original"]:
                return self._edit_original(token, body)
            case "PATCH", ["webhooks", _, token, "messages", message_id]:
                return self._edit_followup(token, int(message_id), body)
            case "POST", ["webhooks", _, token]:
                return self._followup(token, body)
        return _error(404, 0, f"fake Discord has no route for {method} /{'/'.join(parts)}")

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(self.world.application_id),
            "name": "byok-bot",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.world.guilds[0].owner.payload()
            if self.world.guilds
            else self.world.bot.payload(),
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.world.bot.payload(),
        }

    def _sync_commands(self, body: Any, *, guild_id: str | None) -> web.Response:
        self.world.command_syncs.append(guild_id or "global")
        synced = []
        for command in body:
            entry = {
                "id": str(snowflake()),
                "application_id": str(self.world.application_id),
                "version": "1",
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                **command,
            }
            if guild_id:
                entry["guild_id"] = guild_id
            self.world.commands[command["name"]] = entry
            synced.append(entry)
        return _json(synced)

    def _bot_sends(self, channel_id: int, body: dict[str, Any]) -> web.Response:
        channel = self.world.channels.get(channel_id)
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if channel.type == DM and channel.recipient is not None and not channel.recipient.dms_open:
            return _error(403, 50007, "Cannot send messages to this user")
        content = body.get("content") or ""
        if not content.strip():
            return _error(400, 50006, "Cannot send an empty message")
        reference = body.get("message_reference")
        if reference is not None and reference.get("fail_if_not_exists", True):
            referenced = int(reference["message_id"])
            if referenced not in self.world.messages or referenced in self.world.deleted:
                return _error(400, 50035, "Invalid Form Body: Unknown message")
        message_id = snowflake()
        data = message_payload(
            message_id=message_id,
            channel=channel,
            author=self.world.bot,
            content=body.get("content") or "",
            reference=body.get("message_reference"),
        )
        data["allowed_mentions"] = body.get("allowed_mentions")
        self.world.messages[message_id] = data
        return _json(data)

    def _bot_edits(self, message_id: int, body: dict[str, Any]) -> web.Response:
        found = self.world.messages.get(message_id)
        if found is None or message_id in self.world.deleted:
            return _error(404, 10008, "Unknown Message")
        if int(found["author"]["id"]) != self.world.bot.id:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        if self.world.refuse_edits:
            return _error(403, 50013, "Missing Permissions")
        if "content" in body and not (body["content"] or "").strip():
            return _error(400, 50006, "Cannot send an empty message")
        found["content"] = body.get("content", found["content"])
        found["edited_timestamp"] = now()
        return _json(found)

    def _delete(self, channel_id: int, message_id: int) -> web.Response:
        found = self.world.messages.get(message_id)
        if found is None or message_id in self.world.deleted:
            return _error(404, 10008, "Unknown Message")
        channel = self.world.channels[channel_id]
        guild_id = channel.guild_id
        others = int(found["author"]["id"]) != self.world.bot.id
        if (
            others
            and guild_id is not None
            and not self.world.guild(guild_id).bot_can(MANAGE_MESSAGES)
        ):
            return _error(403, 50013, "Missing Permissions")
        self.world.deleted.append(message_id)
        return web.Response(status=204)

    def _history(self, channel_id: int, query: Any) -> web.Response:
        before = int(query.get("before", 2**63))
        limit = int(query.get("limit", 50))
        found = sorted(
            (
                m
                for m in self.world.messages.values()
                if int(m["channel_id"]) == channel_id
                and int(m["id"]) < before
                and int(m["id"]) not in self.world.deleted
            ),
            key=lambda m: int(m["id"]),
            reverse=True,
        )
        return _json([self.world.visible(m) for m in found[:limit]])

    async def _create_thread(
        self, channel_id: int, message_id: int, body: dict[str, Any]
    ) -> web.Response:
        parent = self.world.channels[channel_id]
        assert parent.guild_id is not None and parent.type == GUILD_TEXT
        if not self.world.guild(parent.guild_id).bot_can(CREATE_PUBLIC_THREADS):
            return _error(403, 50013, "Missing Permissions")
        thread = FakeChannel(
            body["name"],
            type=PUBLIC_THREAD,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.world.bot.id,
            id=message_id,
        )
        self.world.channels[thread.id] = thread
        await self.world.gateway.dispatch(
            "THREAD_CREATE", {**thread.payload(), "newly_created": True}
        )
        return _json(thread.payload())

    def _callback(self, interaction_id: int, token: str, body: dict[str, Any]) -> web.Response:
        record = self.world.interactions.get(interaction_id)
        if record is None or record.token != token:
            return _error(404, 10062, "Unknown interaction")
        if record.callbacks:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        record.callbacks.append(body)
        kind = body["type"]
        data = body.get("data") or {}
        resource: dict[str, Any] = {"type": kind}
        if kind == 4:
            record.texts.append(data.get("content", ""))
            resource["message"] = self._interaction_message(record, data)
        return _json(
            {
                "interaction": {
                    "id": str(interaction_id),
                    "type": 2,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(data.get("flags", 0) & EPHEMERAL),
                },
                "resource": resource,
            }
        )

    def _interaction_message(self, record: InteractionRecord, data: dict[str, Any]) -> Any:
        message = message_payload(
            message_id=snowflake(),
            channel=record.channel,
            author=self.world.bot,
            content=data.get("content") or "",
            flags=data.get("flags", 0),
        )
        message["allowed_mentions"] = data.get("allowed_mentions")
        return message

    def _edit_original(self, token: str, body: dict[str, Any]) -> web.Response:
        record = self.world.by_token[token]
        record.texts.append(body.get("content") or "")
        record.original = body.get("content") or ""
        deferred = next((c for c in record.callbacks if c["type"] == 5), None)
        flags = (deferred or {}).get("data", {}).get("flags", 0)
        return _json(self._interaction_message(record, {**body, "flags": flags}))

    def _followup(self, token: str, body: dict[str, Any]) -> web.Response:
        record = self.world.by_token[token]
        record.followups.append(body)
        record.texts.append(body.get("content") or "")
        message = self._interaction_message(record, body)
        record.followup_ids.append(int(message["id"]))
        return _json(message)

    def _edit_followup(self, token: str, message_id: int, body: dict[str, Any]) -> web.Response:
        record = self.world.by_token[token]
        if message_id not in record.followup_ids:
            return _error(404, 10008, "Unknown Message")
        index = record.followup_ids.index(message_id)
        record.followups[index] = {**record.followups[index], **body}
        record.texts.append(body.get("content") or "")
        message = self._interaction_message(record, {**record.followups[index]})
        message["id"] = str(message_id)
        return _json(message)


def _multipart_json(raw: str) -> Any:
    """discord.py sends payload_json in a multipart form when files are attached."""
    start = raw.find("{")
    end = raw.rfind("}")
    return json.loads(raw[start : end + 1]) if start != -1 and end > start else None
