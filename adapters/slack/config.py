"""/byok-config: a workspace admin's choices, stored per workspace by the core."""

from __future__ import annotations

import dataclasses
import json
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
from adapters.slack.payloads import InteractionBody, SlashCommand, SubmittedView
from adapters.slack.render import neutralise_reply
from adapters.slack.views import (
    PROMPT_CALLBACK,
    TEXT_BLOCK,
    long_text_modal,
    submitted_text,
    text_result,
)
from bot.admin import SettingsRefused, SettingsRequest, parse_settings_text
from bot.domain import Member
from bot.ports import StoreError

log = logging.getLogger(__name__)

CONFIG_COMMAND = "/byok-config"
PLACE = "workspace"
# With should_escape, Slack sends `#general` as `<#C0123|general>`; bare ids are taken too.
_CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")
# `/byok-config prompt` or `channel-prompt` alone opens a form for the long text.
PROMPT_FORMS = {"prompt": "prompt", "channel-prompt": "channel_prompt"}


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
        app.view(PROMPT_CALLBACK)(self.on_prompt_submitted)

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
        here = str(command.get("channel_id") or "")
        form = PROMPT_FORMS.get(text.lower())
        if form is not None:
            trigger = str(command.get("trigger_id") or "")
            self._bridge.tasks.spawn(
                self._prompt_form(client, respond, trigger, member, scope, here, form),
                name="slack-command-byok-config-form",
            )
            return
        self._bridge.tasks.spawn(
            self._run(client, respond, member, scope, text, here), name="slack-command-byok-config"
        )

    async def _run(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond,
        member: Member,
        scope: Scope,
        text: str,
        here: str,
    ) -> None:
        answer = await self._answer(client, member, scope, text, here)
        # The settings repeat the admins' prompts: no mention in them may work.
        await respond(text=neutralise_reply(answer), response_type="ephemeral")

    async def _refusal(self, client: AsyncWebClient, member: Member, scope: Scope) -> str | None:
        """Why the member may not change settings here, or None when they may."""
        admin = await may_configure(client, member.user, org_install=scope.org_install)
        if admin is None:
            return texts.CONFIG_CHECK_FAILED
        if not admin:
            return texts.CONFIG_ORG_ADMIN_ONLY if scope.org_install else texts.CONFIG_ADMIN_ONLY
        return None

    async def _prompt_form(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond,
        trigger_id: str,
        member: Member,
        scope: Scope,
        here: str,
        form: str,
    ) -> None:
        """The form for a prompt, filled with the current one: only for an admin (it shows
        the prompt), who is checked again when it is submitted."""
        refused = await self._refusal(client, member, scope)
        if refused is not None:
            await respond(text=refused, response_type="ephemeral")
            return
        try:
            config = await self._bridge.core.store.get_workspace_config(
                member.platform, scope.workspace
            )
        except StoreError:
            log.warning("prompt form opened empty for %s: the database failed", member)
            config = None
        for_channel = form == "channel_prompt"
        current = None
        if config is not None:
            current = config.channel_prompts.get(here) if for_channel else config.system_prompt
        # Slack returns the metadata with the submission, signed; members cannot change it.
        metadata = json.dumps(
            {"workspace": scope.workspace, "org": scope.org_install, "here": here, "form": form}
        )
        view = long_text_modal(
            callback_id=PROMPT_CALLBACK,
            title=texts.CHANNEL_PROMPT_TITLE if for_channel else texts.WORKSPACE_PROMPT_TITLE,
            label=texts.PROMPT_LABEL,
            current=current,
            metadata=metadata,
        )
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            log.warning("prompt form not opened: %s", error.response.get("error"))

    async def on_prompt_submitted(
        self,
        ack: AsyncAck,
        view: SubmittedView,
        body: InteractionBody,
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        member = self._bridge.member(context, body["user"]["id"])
        meta = json.loads(view.get("private_metadata") or "{}")
        scope = Scope(str(meta["workspace"]), org_install=bool(meta["org"]))
        refused = await self._refusal(client, member, scope)
        if refused is not None:
            await ack(response_action="errors", errors={TEXT_BLOCK: refused})
            return
        # Empty means "clear": the core reads `off` as that.
        text = submitted_text(view).strip() or "off"
        request = dataclasses.replace(SettingsRequest(), **{str(meta["form"]): text})
        reply = await self._bridge.core.configure_workspace(
            member,
            workspace=scope.workspace,
            request=request,
            channel_id=channel_id,
            place=PLACE,
            here=str(meta["here"]),
        )
        if not reply.ok:
            await ack(response_action="errors", errors={TEXT_BLOCK: reply.text})
            return
        title = (
            texts.CHANNEL_PROMPT_TITLE
            if meta["form"] == "channel_prompt"
            else (texts.WORKSPACE_PROMPT_TITLE)
        )
        await ack(response_action="update", view=text_result(title, neutralise_reply(reply.text)))

    async def _answer(
        self, client: AsyncWebClient, member: Member, scope: Scope, text: str, here: str
    ) -> str:
        refused = await self._refusal(client, member, scope)
        if refused is not None:
            return refused
        if text.lower() == "help":
            return texts.CONFIG_SYNTAX
        request = parse_settings_text(text)
        if isinstance(request, SettingsRefused):
            return "\n".join([*request.reasons, texts.CONFIG_SYNTAX])
        reply = await self._bridge.core.configure_workspace(
            member,
            workspace=scope.workspace,
            request=request,
            channel_id=channel_id,
            place=PLACE,
            here=here,
        )
        return reply.text if reply.ok else f"{reply.text}\n{texts.CONFIG_SYNTAX}"
