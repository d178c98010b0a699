"""Slack events in, IncomingMessage out: mentions, DMs, channel messages, App Home, uninstall."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.bridge import PLATFORM, Bridge, mention_pattern, unescape, without_mention
from adapters.slack.bridge import workspace_of as _workspace_of
from adapters.slack.sink import Place, SlackReplySink
from bot.keys import contains_key
from bot.messages import HistoryTurn, IncomingMessage, Member

log = logging.getLogger(__name__)

BOT_EVENTS = (
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "app_home_opened",
    "app_uninstalled",
    "tokens_revoked",
)
# Message subtypes a member wrote; the rest are edits, joins, bots and the like.
_MEMBER_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})

# Slack redelivers an event it thinks was missed; answering it twice would bill twice.
_REMEMBERED_EVENTS = 2000

Event = dict[str, Any]


def _from_member(event: Event) -> bool:
    return (
        event.get("subtype") in _MEMBER_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
    )


def history_from(
    messages: list[Event], *, before_ts: str, bot_user_id: str | None, bot_id: str | None
) -> tuple[HistoryTurn, ...]:
    """The conversation so far as the model should read it, oldest first."""
    turns: list[HistoryTurn] = []
    for message in messages:
        if float(message.get("ts", "0")) >= float(before_ts):
            continue
        mine = (bot_user_id is not None and message.get("user") == bot_user_id) or (
            bot_id is not None and message.get("bot_id") == bot_id
        )
        if not mine and not _from_member(message):
            continue
        text = unescape(without_mention(str(message.get("text", "")), bot_user_id))
        if text:
            turns.append(HistoryTurn("assistant" if mine else "user", text))
    return tuple(turns)


class EventListeners:
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge
        self._seen: OrderedDict[str, None] = OrderedDict()

    def _first_delivery(self, body: Event) -> bool:
        event_id = body.get("event_id")
        if not isinstance(event_id, str):
            return True
        if event_id in self._seen:
            log.info("event %s delivered again; already handled", event_id)
            return False
        self._seen[event_id] = None
        if len(self._seen) > _REMEMBERED_EVENTS:
            self._seen.popitem(last=False)
        return True

    def register(self, app: AsyncApp) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.event("app_home_opened")(self.on_home_opened)
        app.event("app_uninstalled")(self.on_uninstall)
        app.event("tokens_revoked")(self.on_uninstall)

    async def on_mention(self, event: Event, body: Event, context: AsyncBoltContext) -> None:
        if not _from_member(event) or not self._first_delivery(body):
            return
        self._bridge.tasks.spawn(self._turn(event, context, private=False), name="slack-mention")

    async def on_message(self, event: Event, body: Event, context: AsyncBoltContext) -> None:
        private = event.get("channel_type") == "im"
        edited = event.get("subtype") == "message_changed"
        if edited and not private:
            # A key edited into a channel message is as exposed as one posted there; the edit
            # is never answered, only checked.
            event = {**(event.get("message") or {}), "channel": event.get("channel")}
        if not _from_member(event) or not self._first_delivery(body):
            return
        bot = context.bot_user_id
        mentioned = bool(bot and mention_pattern(bot).search(str(event.get("text", ""))))
        if not private and mentioned and not edited:
            return  # app_mention carries this one
        self._bridge.tasks.spawn(self._turn(event, context, private=private), name="slack-message")

    async def on_home_opened(self, event: Event, context: AsyncBoltContext) -> None:
        if event.get("tab") != "home" or context.client is None:
            return
        member = self._bridge.member(context, event["user"])
        self._bridge.tasks.spawn(
            self._bridge.publish_home(context.client, member), name="slack-home"
        )

    async def on_uninstall(self, context: AsyncBoltContext) -> None:
        workspace = _workspace_of(context)
        if not workspace:
            log.warning("uninstall event without a team id; nothing deleted")
            return
        self._bridge.tasks.spawn(self._forget(workspace), name="slack-uninstall")

    async def _forget(self, workspace: str) -> None:
        await self._bridge.services.core.forget_workspace(PLATFORM, workspace)

    async def _turn(self, event: Event, context: AsyncBoltContext, *, private: bool) -> None:
        client = context.client
        assert client is not None
        bridge = self._bridge
        member = bridge.member(context, event["user"])
        channel = str(event["channel"])
        ts = str(event["ts"])
        text = unescape(without_mention(str(event.get("text", "")), context.bot_user_id))
        in_thread = event.get("thread_ts")
        addressed = private or event.get("type") == "app_mention"
        thread_ts: str | None = in_thread
        if thread_ts is None and not private and addressed:
            config = await bridge.services.core.store.get_workspace_config(
                PLATFORM, member.workspace
            )
            thread_ts = ts if config.threaded else None
        history: tuple[HistoryTurn, ...] = ()
        if addressed:
            history = await self._history(client, context, channel, ts, in_thread, private)
        message = IncomingMessage(
            member=member,
            text=text,
            is_private=private,
            addressed=addressed,
            channel=channel,
            server=member.workspace,
            history=history,
        )
        sink = SlackReplySink(
            client=client,
            place=Place(
                channel=channel,
                user=member.user,
                team=str(event.get("team") or context.team_id or ""),
                thread_ts=thread_ts,
                is_private=private,
            ),
            workspace=member.workspace,
            streams=bridge.streams,
            pacing=bridge.pacing,
        )
        await bridge.services.core.handle_message(message, sink)
        if private and contains_key(text):
            await self._republish(client, member)

    async def _republish(self, client: AsyncWebClient, member: Member) -> None:
        # A key sent in a DM may have been saved; the App Home shows the new state.
        await self._bridge.publish_home(client, member)

    async def _history(
        self,
        client: AsyncWebClient,
        context: AsyncBoltContext,
        channel: str,
        ts: str,
        thread_ts: str | None,
        private: bool,
    ) -> tuple[HistoryTurn, ...]:
        limit = self._bridge.history_limit
        if thread_ts is not None:
            response = await client.conversations_replies(
                channel=channel, ts=thread_ts, limit=limit
            )
            messages = list(response.get("messages") or [])
        elif private:
            response = await client.conversations_history(
                channel=channel, latest=ts, inclusive=False, limit=limit
            )
            messages = list(reversed(response.get("messages") or []))
        else:
            return ()
        return history_from(
            messages, before_ts=ts, bot_user_id=context.bot_user_id, bot_id=context.bot_id
        )
