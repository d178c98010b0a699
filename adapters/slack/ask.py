"""Asking privately on Slack: the `/ask` command and the "Summarize thread" message shortcut.
Only the member who asked sees the answer (adapters/slack/ephemeral.py), paid with their own
key; the thread a shortcut points at is read back with its speakers."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts as slack_texts
from adapters.slack.bridge import Bridge, settings_scope, unescape, without_mention, workspace_of
from adapters.slack.ephemeral import EphemeralReplySink
from adapters.slack.payloads import MessageEvent, SlashCommand
from bot.about import Said
from bot.domain import IncomingMessage, Member

log = logging.getLogger(__name__)

ASK_COMMAND = "/ask"
# The message shortcut's callback id, as the manifest names it.
SUMMARIZE_CALLBACK = "summarize_thread"
_PAGE = 200
_MAX_PAGES = 10
# Names looked up for one summary; more speakers than this are named by their user id.
_MAX_NAMES = 20


def _is_dm(channel: str) -> bool:
    return channel.startswith("D")


class AskListeners:
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def register(self, app: AsyncApp) -> None:
        app.command(ASK_COMMAND)(self.on_ask)
        app.shortcut(SUMMARIZE_CALLBACK)(self.on_summarize)

    def _sink(
        self, client: AsyncWebClient, channel: str, user: str, thread_ts: str | None
    ) -> EphemeralReplySink:
        return EphemeralReplySink(
            client=client,
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            message_limit=self._bridge.pacing.message_limit,
        )

    async def on_ask(
        self,
        ack: AsyncAck,
        command: SlashCommand,
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        question = str(command.get("text") or "").strip()
        if not question:
            await ack(text=slack_texts.ASK_USAGE)
            return
        # Seen by the asker alone, at once: the answer follows when it is complete.
        await ack(text=slack_texts.THINKING)
        member = self._bridge.member(context, command["user_id"])
        channel = str(command.get("channel_id") or "")
        message = IncomingMessage(
            member=member,
            text=question,
            is_private=_is_dm(channel),
            addressed=True,
            channel=channel,
            server=settings_scope(context),
        )
        sink = self._sink(client, channel, member.user, None)
        self._bridge.tasks.spawn(
            self._bridge.core.answer_privately(message, sink), name="slack-ask"
        )

    async def on_summarize(
        self,
        ack: AsyncAck,
        shortcut: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        member = self._bridge.member(context, str(shortcut["user"]["id"]))
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        target: MessageEvent = shortcut.get("message") or MessageEvent()
        self._bridge.tasks.spawn(
            self._summarize(client, context, member, channel, target), name="slack-summarize"
        )

    async def _summarize(
        self,
        client: AsyncWebClient,
        context: AsyncBoltContext,
        member: Member,
        channel: str,
        target: MessageEvent,
    ) -> None:
        thread_ts = target.get("thread_ts") or target.get("ts")
        messages = [target]
        if thread_ts:
            try:
                messages = await self._thread(client, channel, str(thread_ts)) or [target]
            except SlackApiError as error:
                # e.g. the bot is not in that channel: the message the member picked still is.
                log.warning("cannot read thread in %s: %s", channel, error.response.get("error"))
            except Exception:
                # Slack unreachable or timing out: the member still gets an answer about the
                # message they picked, never silence after the shortcut.
                log.warning("cannot read thread in %s", channel, exc_info=True)
        said = await self._said(client, context, messages)
        message = IncomingMessage(
            member=member,
            text="",
            is_private=_is_dm(channel),
            addressed=True,
            channel=channel,
            server=settings_scope(context),
            attachments=self._bridge.attachments(target.get("files"), client),
        )
        sink = self._sink(client, channel, member.user, target.get("thread_ts"))
        await self._bridge.core.answer_about(message, said, sink, summary=len(messages) > 1)

    async def _thread(
        self, client: AsyncWebClient, channel: str, thread_ts: str
    ) -> list[MessageEvent]:
        """The whole thread, oldest first (the core keeps the newest part that fits)."""
        messages: list[MessageEvent] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            response = await client.conversations_replies(
                channel=channel, ts=thread_ts, limit=_PAGE, cursor=cursor
            )
            messages += response.get("messages") or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or cursor is None:
                break
        return messages

    async def _said(
        self, client: AsyncWebClient, context: AsyncBoltContext, messages: list[MessageEvent]
    ) -> list[Said]:
        names: dict[str, str] = {}
        said: list[Said] = []
        for message in messages:
            user = str(message.get("user") or "")
            mine = bool(context.bot_id and message.get("bot_id") == context.bot_id) or (
                bool(user) and user == context.bot_user_id
            )
            if mine:
                speaker = "byok-bot"
            elif user:
                speaker = await self._name(client, context, user, names)
            else:
                speaker = "an app"
            text = unescape(without_mention(str(message.get("text") or ""), context.bot_user_id))
            said.append(Said(speaker, text))
        return said

    async def _name(
        self, client: AsyncWebClient, context: AsyncBoltContext, user: str, names: dict[str, str]
    ) -> str:
        """The bridge's cached lookup (as for a thread's speakers), at most _MAX_NAMES new
        users per summary, so one click costs a bounded number of users.info calls."""
        if user not in names:
            known = len(names) < _MAX_NAMES
            names[user] = (
                await self._bridge.names.name(client, workspace_of(context), user)
                if known
                else user
            )
        return names[user]
