"""Slash commands, the /setkey modal and the App Home buttons, mapped onto the core's commands."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts as slack_texts
from adapters.slack.ask import ASK_COMMAND
from adapters.slack.bridge import Bridge, settings_scope
from adapters.slack.config import CONFIG_COMMAND, ConfigCommand
from adapters.slack.payloads import InteractionBody, SlashCommand, SubmittedView
from adapters.slack.render import neutralise_reply
from adapters.slack.views import (
    HOME_REMOVE_ACTION,
    HOME_SET_ACTION,
    INSTRUCTIONS_CALLBACK,
    KEY_BLOCK,
    SETKEY_CALLBACK,
    TEXT_BLOCK,
    long_text_modal,
    modal_result,
    setkey_modal,
    submitted_key,
    submitted_provider,
    submitted_text,
    text_result,
)
from bot.domain import Member, Reply
from bot.ports import StoreError
from bot.providers import Provider

log = logging.getLogger(__name__)

# Slack slash command -> the core's command name. Slack reserves /help.
MEMBER_COMMANDS = {
    "/setkey": "setkey",
    "/removekey": "removekey",
    "/mykey": "mykey",
    "/model": "model",
    "/usage": "usage",
    "/limit": "limit",
    "/instructions": "instructions",
    "/forget": "forget",
    "/byok-help": "help",
}
# Every slash command the app registers (and the manifest lists).
SLASH_COMMANDS = (*MEMBER_COMMANDS, CONFIG_COMMAND, ASK_COMMAND)
# Commands whose argument means nothing; anything typed after them is ignored.
# /removekey takes a provider (the core ignores it while one provider is listed).
_NO_ARGUMENT = frozenset({"mykey", "usage", "forget", "help"})
# Commands after which the App Home may show something new.
_CHANGES_HOME = frozenset({"setkey", "removekey", "model", "forget"})


class CommandListeners:
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def register(self, app: AsyncApp) -> None:
        for command in MEMBER_COMMANDS:
            app.command(command)(self.on_command)
        ConfigCommand(self._bridge).register(app)
        app.view(SETKEY_CALLBACK)(self.on_setkey_submitted)
        app.view(INSTRUCTIONS_CALLBACK)(self.on_instructions_submitted)
        app.action(HOME_SET_ACTION)(self.on_home_set)
        app.action(HOME_REMOVE_ACTION)(self.on_home_remove)

    async def on_command(
        self,
        ack: AsyncAck,
        command: SlashCommand,
        context: AsyncBoltContext,
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        name = MEMBER_COMMANDS[command["command"]]
        argument = "" if name in _NO_ARGUMENT else str(command.get("text") or "").strip()
        member = self._bridge.member(context, command["user_id"])
        providers = self._bridge.core.commands.providers
        named = providers.get(argument) if argument and providers.several else None
        if name == "setkey" and (not argument or named is not None):
            # `/setkey groq` opens the form with Groq chosen: the key still goes in the modal.
            await ack()
            await self._open_modal(client, str(command["trigger_id"]), member, named)
            return
        await ack()
        if name == "instructions" and not argument:
            # Long text is easier in a form, filled with what the member wrote before.
            await self._open_instructions(client, str(command["trigger_id"]), member)
            return
        where = (settings_scope(context), str(command.get("channel_id") or ""))
        self._bridge.tasks.spawn(
            self._run(client, respond, member, name, argument, where),
            name=f"slack-command-{name}",
        )

    async def _run(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond,
        member: Member,
        name: str,
        argument: str,
        where: tuple[str, str],
    ) -> None:
        server, channel = where
        reply = await self._bridge.core.commands.run(
            member, name, argument, server=server, channel=channel
        )
        # A reply may repeat what a member typed (their instructions): no mention in it works.
        text = neutralise_reply(reply.text)
        if name == "help":
            text = f"{text}\n{slack_texts.SLACK_HELP_EXTRA}"
        await respond(text=text, response_type="ephemeral")
        if name in _CHANGES_HOME:
            await self._bridge.publish_home(client, member)

    async def _open_modal(
        self,
        client: AsyncWebClient,
        trigger_id: str,
        member: Member,
        chosen: Provider | None = None,
    ) -> None:
        view = setkey_modal(self._bridge.core.commands.providers, chosen)
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            log.warning("setkey modal not opened for %s: %s", member, error.response.get("error"))

    async def _open_instructions(
        self, client: AsyncWebClient, trigger_id: str, member: Member
    ) -> None:
        try:
            current = await self._bridge.core.commands.current_instructions(member)
        except StoreError:
            log.warning("instructions form not opened for %s: the database failed", member)
            current = None
        view = long_text_modal(
            callback_id=INSTRUCTIONS_CALLBACK,
            title=slack_texts.INSTRUCTIONS_TITLE,
            label=slack_texts.INSTRUCTIONS_LABEL,
            current=current,
        )
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            log.warning("instructions form not opened: %s", error.response.get("error"))

    async def on_instructions_submitted(
        self, ack: AsyncAck, view: SubmittedView, body: InteractionBody, context: AsyncBoltContext
    ) -> None:
        member = self._bridge.member(context, body["user"]["id"])
        # Empty means "clear": the core reads `off` as that.
        text = submitted_text(view).strip() or "off"
        reply = await self._bridge.core.commands.run(member, "instructions", text)
        shown = neutralise_reply(reply.text)
        if not reply.ok:
            # Plain text under the input, where no mention works; never the typed text.
            await ack(response_action="errors", errors={TEXT_BLOCK: reply.text})
            return
        await ack(response_action="update", view=text_result(slack_texts.INSTRUCTIONS_TITLE, shown))

    async def on_setkey_submitted(
        self, ack: AsyncAck, view: SubmittedView, body: InteractionBody, context: AsyncBoltContext
    ) -> None:
        member = self._bridge.member(context, body["user"]["id"])
        checking = asyncio.ensure_future(
            self._bridge.core.commands.set_key(
                member, submitted_key(view), provider=submitted_provider(view)
            )
        )
        done, _ = await asyncio.wait({checking}, timeout=self._bridge.ack_budget)
        if not done:
            # Slack closes the request after 3 s; the modal says "checking" and is updated later.
            await ack(response_action="update", view=modal_result(slack_texts.MODAL_CHECKING))
            self._bridge.tasks.spawn(
                self._finish_late(checking, context, member, str(view["id"])),
                name="slack-setkey-late",
            )
            return
        if checking.exception() is not None:
            log.error("/setkey check failed for %s", member, exc_info=checking.exception())
            await ack(response_action="errors", errors={KEY_BLOCK: slack_texts.COMMAND_FAILED})
            return
        reply = checking.result()
        if not reply.ok:
            await ack(response_action="errors", errors={KEY_BLOCK: reply.text})
            return
        await ack(response_action="update", view=modal_result(reply.text))
        if context.client is not None:
            self._bridge.tasks.spawn(
                self._bridge.publish_home(context.client, member), name="slack-home"
            )

    async def _finish_late(
        self,
        checking: asyncio.Future[Reply],
        context: AsyncBoltContext,
        member: Member,
        view_id: str,
    ) -> None:
        client = context.client
        assert client is not None
        try:
            text = (await checking).text
        except Exception as error:
            # The modal must not stay on "checking" forever.
            log.error("/setkey check failed for %s", member, exc_info=error)
            text = slack_texts.COMMAND_FAILED
        finally:
            if not checking.done():
                checking.cancel()
        try:
            await client.views_update(view_id=view_id, view=modal_result(text))
        except SlackApiError as error:
            log.warning("setkey result not shown: %s", error.response.get("error"))
        await self._bridge.publish_home(client, member)

    async def on_home_set(
        self,
        ack: AsyncAck,
        body: InteractionBody,
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        member = self._bridge.member(context, body["user"]["id"])
        await self._open_modal(client, str(body["trigger_id"]), member)

    async def on_home_remove(
        self,
        ack: AsyncAck,
        body: InteractionBody,
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        member = self._bridge.member(context, body["user"]["id"])
        self._bridge.tasks.spawn(self._remove(client, member), name="slack-home-remove")

    async def _remove(self, client: AsyncWebClient, member: Member) -> None:
        await self._bridge.core.commands.remove_key(member)
        await self._bridge.publish_home(client, member)
