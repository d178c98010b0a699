"""Slack events in, IncomingMessage out: mentions, DMs, channel messages, App Home, uninstall."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.bridge import (
    PLATFORM,
    Bridge,
    mention_pattern,
    settings_scope,
    unescape,
    without_mention,
    workspace_of,
)
from adapters.slack.payloads import (
    EventEnvelope,
    HomeOpenedEvent,
    MessageEvent,
    UninstallEvent,
)
from adapters.slack.sink import Place, SlackReplySink
from bot.domain import HistoryTurn, IncomingMessage, Member, TurnContext
from bot.keys import contains_key
from bot.ports import OnceLog, StoreError

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
# Message subtypes a member wrote; the rest are edits, joins, bots and the like. A `/me`
# message is the member's own words like any other.
_MEMBER_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})
# Text a member wrote that everyone in the channel sees but that is not said to the bot:
# checked for keys, never answered and never read as conversation.
_CHECKED_ONLY_SUBTYPES = frozenset(
    {"channel_topic", "channel_purpose", "group_topic", "group_purpose"}
)

# Slack redelivers an event it thinks was missed, the last time about five minutes later,
# maybe to another worker; answering it twice would bill twice, so answered events are
# remembered (in the Store, shared by every worker) a while longer.
REMEMBER_EVENTS_FOR = timedelta(minutes=10)
_HISTORY_PAGE = 200
_MAX_HISTORY_PAGES = 10


def _from_member(event: MessageEvent) -> bool:
    return (
        event.get("subtype") in _MEMBER_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
    )


def history_from(
    messages: list[MessageEvent],
    *,
    before_ts: str,
    bot_user_id: str | None,
    bot_id: str | None,
    names: Mapping[str, str] | None = None,
) -> tuple[HistoryTurn, ...]:
    """The conversation so far as the model should read it, oldest first; `names` gives
    each member's name by user id (a user without one is named by their id)."""
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
        if not text:
            continue
        if mine:
            turns.append(HistoryTurn("assistant", text))
        else:
            user = str(message.get("user", ""))
            turns.append(HistoryTurn("user", text, author=(names or {}).get(user, user)))
    return tuple(turns)


class EventListeners:
    def __init__(
        self,
        bridge: Bridge,
        *,
        once: OnceLog,
        installations: AsyncInstallationStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`installations`: OAuth mode's, where an uninstall deletes the workspace's own."""
        self._bridge = bridge
        self._once = once
        self._installations = installations
        self._clock = clock

    async def _first_delivery(self, body: EventEnvelope) -> bool:
        """False for an event already answered, by this process or another; only answered
        events are remembered."""
        event_id = body.get("event_id")
        if not isinstance(event_id, str):
            return True
        now = self._clock()
        try:
            first = await self._once.first_time(
                f"slack-event:{event_id}", now=now, until=now + REMEMBER_EVENTS_FOR
            )
        except StoreError:
            # Answered anyway: the turn needs the database too (its key, its lease), so it
            # tells the member to try again rather than answer twice.
            log.warning("event %s could not be remembered as answered", event_id, exc_info=True)
            return True
        if not first:
            log.info("event %s delivered again; already handled", event_id)
        return first

    def register(self, app: AsyncApp) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.event("app_home_opened")(self.on_home_opened)
        app.event("app_uninstalled")(self.on_uninstall)
        app.event("tokens_revoked")(self.on_uninstall)

    async def on_mention(
        self, event: MessageEvent, body: EventEnvelope, context: AsyncBoltContext
    ) -> None:
        if not _from_member(event) or not await self._first_delivery(body):
            return
        self._bridge.tasks.spawn(self._turn(event, context, private=False), name="slack-mention")

    async def on_message(
        self, event: MessageEvent, body: EventEnvelope, context: AsyncBoltContext
    ) -> None:
        private = event.get("channel_type") == "im"
        edited = event.get("subtype") == "message_changed"
        if edited and not private:
            # A key edited into a channel message is as exposed as one posted there; the edit
            # is never answered, only checked.
            event = {**event.get("message", MessageEvent()), "channel": event.get("channel", "")}
        if not private and event.get("subtype") in _CHECKED_ONLY_SUBTYPES and event.get("user"):
            self._bridge.tasks.spawn(self._turn(event, context, private=False), name="slack-check")
            return
        if not _from_member(event):
            return
        bot = context.bot_user_id
        mentioned = bool(bot and mention_pattern(bot).search(str(event.get("text", ""))))
        if not private and mentioned and not edited:
            return  # app_mention carries this one
        # Channel chatter is only checked for keys, never answered: no need to remember it.
        if private and not await self._first_delivery(body):
            return
        self._bridge.tasks.spawn(self._turn(event, context, private=private), name="slack-message")

    async def on_home_opened(self, event: HomeOpenedEvent, context: AsyncBoltContext) -> None:
        if event.get("tab") != "home" or context.client is None:
            return
        member = self._bridge.member(context, event["user"])
        self._bridge.tasks.spawn(
            self._bridge.publish_home(context.client, member), name="slack-home"
        )

    async def on_uninstall(self, event: UninstallEvent, context: AsyncBoltContext) -> None:
        if event.get("type") == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
            return  # only members' user tokens were revoked; the bot still works here
        if context.enterprise_id and not context.is_enterprise_install:
            # Keys on Grid belong to the whole org; one workspace leaving does not end them,
            # only that workspace's own settings (and its installation).
            log.info(
                "removed from team %s of org %s; the org's keys stay",
                context.team_id,
                context.enterprise_id,
            )
            workspace = context.team_id or ""
        else:
            workspace = workspace_of(context)
        if not workspace:
            log.warning("uninstall event without a team id; nothing deleted")
            return
        self._bridge.tasks.spawn(
            self._uninstall(
                enterprise_id=context.enterprise_id,
                # An org-wide install is the org's alone, whichever workspace the event names.
                team_id=None if context.is_enterprise_install else context.team_id,
                workspace=workspace,
            ),
            name="slack-uninstall",
        )

    async def _uninstall(
        self, *, enterprise_id: str | None, team_id: str | None, workspace: str
    ) -> None:
        if self._installations is not None:
            # First: from here on nothing is answered there while its rows go.
            try:
                await self._installations.async_delete_all(
                    enterprise_id=enterprise_id, team_id=team_id
                )
            except StoreError:
                log.error("the installation of %s could not be deleted", workspace, exc_info=True)
        await self._bridge.core.forget_workspace(PLATFORM, workspace)

    async def _turn(self, event: MessageEvent, context: AsyncBoltContext, *, private: bool) -> None:
        client = context.client
        assert client is not None
        bridge = self._bridge
        member = bridge.member(context, event["user"])
        channel = str(event["channel"])
        ts = str(event["ts"])
        text = unescape(without_mention(str(event.get("text", "")), context.bot_user_id))
        in_thread = event.get("thread_ts")
        addressed = private or event.get("type") == "app_mention"
        history: tuple[HistoryTurn, ...] = ()
        author = ""
        if addressed:
            history = await self._history(client, context, channel, ts, in_thread, private)
            if not private:
                # In a shared place the model is told who asked.
                author = await bridge.names.name(client, member.workspace, member.user)
        message = IncomingMessage(
            member=member,
            text=text,
            is_private=private,
            addressed=addressed,
            channel=channel,
            server=settings_scope(context),
            history=history,
            author_name=author,
            attachments=bridge.attachments(event.get("files"), client) if addressed else (),
        )
        thread_ts: str | None = in_thread
        turn: TurnContext | None = None
        if thread_ts is None and not private and addressed:
            # Read once, here, for the thread decision and then by the turn itself. A
            # database that cannot say gives a new thread: the turn then tells why.
            turn = await bridge.core.read_turn_context(message)
            thread_ts = ts if turn is None or turn.config.threaded else None
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
        await bridge.core.handle_message(message, sink, context=turn)
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
        try:
            if thread_ts is not None:
                messages = await self._thread_before(client, channel, thread_ts, ts)
            elif private:
                response = await client.conversations_history(
                    channel=channel, latest=ts, inclusive=False, limit=limit
                )
                messages = list(reversed(response.get("messages") or []))
            else:
                return ()
        except SlackApiError as error:
            # e.g. a missing scope for this kind of conversation: answer without context.
            log.warning("no history for %s: %s", channel, error.response.get("error"))
            return ()
        messages = messages[-limit:]
        names: dict[str, str] = {}
        if not private:
            users = sorted({str(m["user"]) for m in messages if _from_member(m)})
            found = await asyncio.gather(
                *(self._bridge.names.name(client, workspace_of(context), u) for u in users)
            )
            names = dict(zip(users, found, strict=True))
        return history_from(
            messages,
            before_ts=ts,
            bot_user_id=context.bot_user_id,
            bot_id=context.bot_id,
            names=names,
        )

    async def _thread_before(
        self, client: AsyncWebClient, channel: str, thread_ts: str, ts: str
    ) -> list[MessageEvent]:
        """The thread up to `ts`, oldest first: replies come oldest first, so page to the end."""
        messages: list[MessageEvent] = []
        cursor: str | None = None
        for _ in range(_MAX_HISTORY_PAGES):
            response = await client.conversations_replies(
                channel=channel,
                ts=thread_ts,
                latest=ts,
                inclusive=False,
                limit=_HISTORY_PAGE,
                cursor=cursor,
            )
            messages += response.get("messages") or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or cursor is None:
                break
        return messages
