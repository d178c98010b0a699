"""/byok-config: a workspace admin's choices, stored per workspace by the core."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.bridge import Bridge, settings_scope
from adapters.slack.payloads import SlashCommand
from bot.admin import SettingsRefused, parse_settings_text
from bot.domain import Member

log = logging.getLogger(__name__)

CONFIG_COMMAND = "/byok-config"
PLACE = "workspace"
# With should_escape, Slack sends `#general` as `<#C0123|general>`; bare ids are taken too.
_CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")


@dataclass(frozen=True, slots=True)
class Scope:
    """The workspace whose settings a command changes, and how the app was installed there."""

    workspace: str
    org_install: bool


def channel_id(word: str) -> str | None:
    mention = _CHANNEL_MENTION.fullmatch(word)
    if mention is not None:
        return mention.group(1)
    return word if _CHANNEL_ID.fullmatch(word) else None


async def may_configure(client: AsyncWebClient, user: str, *, org_install: bool) -> bool | None:
    """Slack's own word on the user's role; None when Slack could not be asked.

    Org admins and owners of an Enterprise Grid administer every workspace of the org.
    On an org-wide install the token speaks for the whole org, so its workspace roles
    cannot say which workspace a user administers: only org admins and owners may."""
    try:
        response = await client.users_info(user=user)
    except SlackApiError as error:
        log.warning("users.info failed for %s: %s", user, error.response.get("error"))
        return None
    profile = response.get("user") or {}
    org_role = profile.get("enterprise_user") or {}
    if any(bool(org_role.get(flag)) for flag in ("is_admin", "is_owner")):
        return True
    if org_install:
        return False
    return any(bool(profile.get(flag)) for flag in ("is_admin", "is_owner", "is_primary_owner"))


class ConfigCommand:
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def register(self, app: AsyncApp) -> None:
        app.command(CONFIG_COMMAND)(self.on_command)

    async def on_command(
        self,
        ack: AsyncAck,
        command: SlashCommand,
        context: AsyncBoltContext,
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        member = self._bridge.member(context, str(command["user_id"]))
        text = str(command.get("text") or "").strip()
        scope = Scope(settings_scope(context), org_install=bool(context.is_enterprise_install))
        self._bridge.tasks.spawn(
            self._run(client, respond, member, scope, text), name="slack-command-byok-config"
        )

    async def _run(
        self, client: AsyncWebClient, respond: AsyncRespond, member: Member, scope: Scope, text: str
    ) -> None:
        answer = await self._answer(client, member, scope, text)
        await respond(text=answer, response_type="ephemeral")

    async def _answer(self, client: AsyncWebClient, member: Member, scope: Scope, text: str) -> str:
        admin = await may_configure(client, member.user, org_install=scope.org_install)
        if admin is None:
            return texts.CONFIG_CHECK_FAILED
        if not admin:
            return texts.CONFIG_ORG_ADMIN_ONLY if scope.org_install else texts.CONFIG_ADMIN_ONLY
        if text.lower() == "help":
            return texts.CONFIG_SYNTAX
        request = parse_settings_text(text)
        if isinstance(request, SettingsRefused):
            return "\n".join([*request.reasons, texts.CONFIG_SYNTAX])
        reply = await self._bridge.core.configure_workspace(
            member, workspace=scope.workspace, request=request, channel_id=channel_id, place=PLACE
        )
        return reply.text if reply.ok else f"{reply.text}\n{texts.CONFIG_SYNTAX}"
