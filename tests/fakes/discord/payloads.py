"""JSON shapes the fake Discord sends, as the real API documents them (what discord.py reads)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Permission bits (https://discord.com/developers/docs/topics/permissions).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_GUILD = 1 << 5
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
BOT_BASE = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | READ_MESSAGE_HISTORY
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)

GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11

_ids = itertools.count(1_200_000_000_000_000_000)


def snowflake() -> int:
    return next(_ids)


def snowflake_on_shard(shard_id: int, shard_count: int) -> int:
    """A fresh id whose guild Discord routes to `shard_id` ((id >> 22) % count): the shard
    rule reads the id's timestamp bits, which consecutive ids share."""
    fresh = snowflake()
    high = fresh >> 22
    # Far above what the counter reaches in a test run, so it never meets another id.
    high += 1 << 20
    high += (shard_id - high) % shard_count
    return (high << 22) | (fresh & ((1 << 22) - 1))


def now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    name: str
    bot: bool = False
    dms_open: bool = True
    id: int = field(default_factory=snowflake)
    # The name Discord shows (a member may pick any); the username when None.
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name or self.name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class FakeChannel:
    name: str
    type: int = GUILD_TEXT
    guild_id: int | None = None
    parent_id: int | None = None
    owner_id: int | None = None
    recipient: FakeUser | None = None
    id: int = field(default_factory=snowflake)

    def payload(self) -> dict[str, Any]:
        if self.type == DM:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": DM,
                "recipients": [self.recipient.payload()],
                "last_message_id": None,
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }
        if self.type == PUBLIC_THREAD:
            data.update(
                owner_id=str(self.owner_id),
                message_count=0,
                member_count=1,
                total_message_sent=0,
                flags=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": now(),
                    "locked": False,
                },
            )
        return data


@dataclass
class FakeGuild:
    name: str
    owner: FakeUser
    bot_permissions: int = BOT_BASE
    channels: list[FakeChannel] = field(default_factory=list)
    id: int = field(default_factory=snowflake)

    def add_channel(self, name: str) -> FakeChannel:
        channel = FakeChannel(name, guild_id=self.id)
        self.channels.append(channel)
        return channel

    def bot_can(self, permission: int) -> bool:
        return bool(self.bot_permissions & permission)

    def payload(self, bot: FakeUser) -> dict[str, Any]:
        everyone = {
            "id": str(self.id),
            "name": "@everyone",
            "permissions": str(VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        bot_role_id = self.id + 1
        bot_role = dict(everyone, id=str(bot_role_id), name="byok-bot", managed=True)
        bot_role["permissions"] = str(self.bot_permissions)
        bot_role["position"] = 1
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.owner.id),
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_flags": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "roles": [everyone, bot_role],
            "emojis": [],
            "stickers": [],
            "channels": [c.payload() for c in self.channels if c.type == GUILD_TEXT],
            "threads": [c.payload() for c in self.channels if c.type == PUBLIC_THREAD],
            "members": [member_payload(bot, roles=[str(bot_role_id)])],
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "joined_at": now(),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class FakeFile:
    """A file a member attaches; the fake's CDN serves it (or refuses with 403)."""

    name: str
    data: bytes
    content_type: str | None = None
    # The CDN answers 403, as for a file the bot may not download.
    forbidden: bool = False
    # What Discord says its size is; by default the real one.
    size: int | None = None
    id: int = field(default_factory=snowflake)

    def payload(self, cdn: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.name,
            "size": len(self.data) if self.size is None else self.size,
            "url": f"{cdn}/attachments/{self.id}/{self.name}",
            "proxy_url": f"{cdn}/attachments/{self.id}/{self.name}",
        }
        if self.content_type is not None:
            data["content_type"] = self.content_type
        return data


def member_payload(
    user: FakeUser, *, roles: list[str] | None = None, permissions: int | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user": user.payload(),
        "roles": roles or [],
        "joined_at": now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def message_payload(
    *,
    message_id: int,
    channel: FakeChannel,
    author: FakeUser,
    content: str,
    mentions: list[FakeUser] | None = None,
    flags: int = 0,
    reference: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel.id),
        "author": author.payload(),
        "content": content,
        "timestamp": now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [
            {**u.payload(), "member": _without_user(member_payload(u))} for u in mentions or []
        ],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": [],
        "components": [],
        "pinned": False,
        "type": 19 if reference else 0,
        "flags": flags,
    }
    if channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
        data["member"] = _without_user(member_payload(author))
    if reference:
        data["message_reference"] = reference
    return data


def _without_user(member: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in member.items() if k != "user"}
