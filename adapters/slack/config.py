"""/byok-config: a workspace admin's choices, stored per workspace by the core."""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.bridge import PLATFORM, Bridge
from bot.admin import BAD_CAP, settings_summary
from bot.domain import Cap, CapPeriod, Member, WorkspaceConfig
from bot.limits import parse_cap

log = logging.getLogger(__name__)

CONFIG_COMMAND = "/byok-config"
# With should_escape, Slack sends `#general` as `<#C0123|general>`; bare ids are taken too.
_CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")
_MODEL = re.compile(r"[\w.:/-]+")
_ALL = frozenset({"all", "*", "every", "everywhere"})
_THREAD = frozenset({"thread", "threaded", "threads"})
_IN_PLACE = frozenset({"in-place", "in place", "inplace", "in_place"})

Payload = dict[str, Any]


def parse_channels(text: str) -> frozenset[str] | None:
    """`all` (every channel), or the channels named; None when any word is not a channel."""
    if text.strip().lower() in _ALL:
        return frozenset()
    ids: set[str] = set()
    for word in text.split():
        mention = _CHANNEL_MENTION.fullmatch(word)
        if mention is not None:
            ids.add(mention.group(1))
        elif _CHANNEL_ID.fullmatch(word):
            ids.add(word)
        else:
            return None
    return frozenset(ids) or None


def apply_settings(config: WorkspaceConfig, text: str) -> WorkspaceConfig | str:
    """The config with every `name value` of `text` applied, or what was wrong with it."""
    changes: dict[str, Any] = {}
    caps: dict[CapPeriod, Cap] = dict(config.member_caps)
    for part in text.split(";"):
        words = part.split(maxsplit=1)
        if not words:
            continue
        name = words[0].lower().replace("_", "-")
        value = words[1].strip() if len(words) > 1 else ""
        if name == "channels":
            allowed = parse_channels(value)
            if allowed is None:
                return texts.CONFIG_BAD_CHANNELS
            changes["allowed_channels"] = allowed
        elif name == "model":
            if not _MODEL.fullmatch(value):
                return texts.CONFIG_BAD_MODEL
            changes["default_model"] = None if value.lower() == "default" else value
        elif name == "answers":
            answers = " ".join(value.lower().split())
            if answers in _THREAD:
                changes["threaded"] = True
            elif answers in _IN_PLACE:
                changes["threaded"] = False
            else:
                return texts.CONFIG_BAD_ANSWERS
        elif name in ("daily-cap", "monthly-cap"):
            period: CapPeriod = "daily" if name == "daily-cap" else "monthly"
            request = parse_cap(period, value)
            if request is None:
                return BAD_CAP
            if request.cap is None:
                caps.pop(period, None)
            else:
                caps[period] = request.cap
        else:
            return texts.config_unknown_setting(words[0])
    if caps != config.member_caps:
        changes["member_caps"] = caps
    return dataclasses.replace(config, **changes)


def summary(config: WorkspaceConfig, *, changed: bool) -> str:
    return settings_summary(config, place="workspace", changed=changed)


async def is_workspace_admin(client: AsyncWebClient, user: str) -> bool | None:
    """Slack's own word on the user's role; None when Slack could not be asked."""
    try:
        response = await client.users_info(user=user)
    except SlackApiError as error:
        log.warning("users.info failed for %s: %s", user, error.response.get("error"))
        return None
    profile = response.get("user") or {}
    return any(bool(profile.get(flag)) for flag in ("is_admin", "is_owner", "is_primary_owner"))


class ConfigCommand:
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def register(self, app: AsyncApp) -> None:
        app.command(CONFIG_COMMAND)(self.on_command)

    async def on_command(
        self,
        ack: AsyncAck,
        command: Payload,
        context: AsyncBoltContext,
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        member = self._bridge.member(context, str(command["user_id"]))
        text = str(command.get("text") or "").strip()
        self._bridge.tasks.spawn(
            self._run(client, respond, member, text), name="slack-command-byok-config"
        )

    async def _run(
        self, client: AsyncWebClient, respond: AsyncRespond, member: Member, text: str
    ) -> None:
        await respond(text=await self._answer(client, member, text), response_type="ephemeral")

    async def _answer(self, client: AsyncWebClient, member: Member, text: str) -> str:
        admin = await is_workspace_admin(client, member.user)
        if admin is None:
            return texts.CONFIG_CHECK_FAILED
        if not admin:
            return texts.CONFIG_ADMIN_ONLY
        core = self._bridge.core
        config = await core.store.get_workspace_config(PLATFORM, member.workspace)
        if text.lower() == "help":
            return texts.CONFIG_SYNTAX
        updated = apply_settings(config, text)
        if isinstance(updated, str):
            return f"{updated}\n{texts.CONFIG_SYNTAX}"
        # Any setting given is saved, even an unchanged one: the admin's act is audited.
        changed = bool(text)
        if changed:
            await core.update_workspace_config(member, updated)
        return summary(updated, changed=changed)
