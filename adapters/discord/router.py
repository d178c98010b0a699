"""Discord messages in, IncomingMessage and a DiscordSink out."""

from __future__ import annotations

import logging

import discord

from adapters.discord.files import attachments_of, replied_to
from adapters.discord.history import (
    author_name,
    read_history,
    strip_mentions_of,
    thread_starter,
)
from adapters.discord.options import DiscordOptions
from adapters.discord.sink import DiscordSink
from adapters.tasks import BackgroundTasks
from bot.core import ByokCore
from bot.domain import Attachment, HistoryTurn, IncomingMessage, Member, TurnContext

log = logging.getLogger(__name__)

PLATFORM = "discord"
_ANSWERABLE = (discord.MessageType.default, discord.MessageType.reply)


def discord_member(user: discord.abc.User | discord.Object) -> Member:
    # User ids are global on Discord, so one key serves the member in every server.
    return Member(PLATFORM, "", str(user.id))


class MessageRouter:
    """Translates each readable message for the core; every rule about it lives there."""

    def __init__(
        self,
        *,
        client: discord.Client,
        core: ByokCore,
        options: DiscordOptions,
        background: BackgroundTasks,
    ) -> None:
        self._client = client
        self._core = core
        self._options = options
        self._background = background

    async def handle(self, message: discord.Message, *, edited: bool = False) -> None:
        """Hand a message to the core; an edited one only to the leak guard, and only in a
        server (in a DM the core would take a key in it as /setkey a second time)."""
        me = self._client.user
        if me is None or message.author.bot or message.webhook_id is not None:
            return
        if message.type not in _ANSWERABLE or (edited and message.guild is None):
            return
        channel = await self._resolve_channel(message)
        incoming = await self._translate(message, channel, me.id, edited=edited)
        open_thread = False
        context: TurnContext | None = None
        if (
            incoming.addressed
            and not incoming.is_private
            and not isinstance(channel, discord.Thread)
        ):
            # Read once, here, for the thread decision and then by the turn itself. A
            # database that cannot say gives a new thread: the turn then tells why.
            context = await self._core.read_turn_context(incoming)
            open_thread = context is None or context.config.threaded
        sink = DiscordSink(
            message=message,
            question=incoming.text,
            open_thread=open_thread,
            timing=self._options.timing,
            background=self._background,
        )
        await self._core.handle_message(incoming, sink, context=context)

    async def _resolve_channel(self, message: discord.Message) -> discord.abc.Messageable:
        channel = message.channel
        if isinstance(channel, discord.PartialMessageable) and message.guild is not None:
            # A thread the cache has not seen yet (e.g. created before a restart).
            try:
                fetched = await self._client.fetch_channel(channel.id)
            except discord.HTTPException as error:
                log.warning("cannot read channel %s: HTTP %s", channel.id, error.status)
                return channel
            if isinstance(fetched, discord.abc.Messageable):
                return fetched
        return channel

    async def _translate(
        self,
        message: discord.Message,
        channel: discord.abc.Messageable,
        me: int,
        *,
        edited: bool,
    ) -> IncomingMessage:
        private = message.guild is None
        thread = channel if isinstance(channel, discord.Thread) else None
        in_own_thread = thread is not None and thread.owner_id == me
        mentioned = me in message.raw_mentions
        addressed = not edited and (private or mentioned or in_own_thread)
        text = strip_mentions_of(message.content, me) if mentioned else message.content
        history: tuple[HistoryTurn, ...] = ()
        if addressed and (private or in_own_thread) and text.strip():
            try:
                starter = await thread_starter(thread) if thread is not None else None
                history = await read_history(
                    channel,
                    before=message,
                    me=me,
                    limit=self._options.history_limit,
                    starter=starter,
                )
            except discord.HTTPException as error:
                # e.g. Read Message History denied in this thread: answer without context.
                log.warning("cannot read history of %s: HTTP %s", channel, error.status)
        attachments: tuple[Attachment, ...] = ()
        if addressed:
            # Files on the question and on the message it replies to.
            attachments = attachments_of(message, await replied_to(message))
        # The allow-list names channels; a thread counts as the channel it lives in.
        allow_list_channel = thread.parent_id if thread is not None else message.channel.id
        return IncomingMessage(
            member=discord_member(message.author),
            text=text,
            is_private=private,
            addressed=addressed,
            channel="" if private else str(allow_list_channel),
            server=str(message.guild.id) if message.guild is not None else "",
            history=history,
            author_name=author_name(message.author),
            attachments=attachments,
        )
