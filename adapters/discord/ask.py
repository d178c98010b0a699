"""Asking privately: `/ask` (a question, and an image) and the message menu "Ask byok-bot
about this"; only the member who asked sees the answer, paid with their own key."""

from __future__ import annotations

import logging

import aiohttp
import discord
from discord import app_commands

from adapters.discord.ephemeral import EphemeralSink
from adapters.discord.files import attachment_of, attachments_of
from adapters.discord.history import strip_mentions_of
from adapters.discord.options import DiscordOptions
from adapters.discord.replies import think_privately
from adapters.discord.router import discord_member
from adapters.tasks import BackgroundTasks
from bot.about import Said
from bot.core import ByokCore
from bot.domain import Attachment, IncomingMessage

log = logging.getLogger(__name__)

ASK_ABOUT_MENU = "Ask byok-bot about this"
ANYWHERE = {"guilds": True, "dms": True, "private_channels": True}


def _question(
    interaction: discord.Interaction, text: str, attachments: tuple[Attachment, ...] = ()
) -> IncomingMessage:
    channel = interaction.channel
    private = interaction.guild is None
    # The allow-list names channels; a thread counts as the channel it lives in.
    place = channel.parent_id if isinstance(channel, discord.Thread) else interaction.channel_id
    return IncomingMessage(
        member=discord_member(interaction.user),
        text=text,
        is_private=private,
        addressed=True,
        channel="" if private else str(place or ""),
        server=str(interaction.guild_id) if interaction.guild_id is not None else "",
        attachments=attachments,
    )


async def _said(message: discord.Message, me: int, limit: int) -> tuple[list[Said], bool]:
    """The message, or the thread it opened, with speakers; and whether it is a thread."""
    thread = message.thread
    if thread is None and message.guild is not None:
        thread = message.guild.get_thread(message.id)

    def said(m: discord.Message) -> Said:
        return Said(m.author.display_name, strip_mentions_of(m.content, me))

    lines = [said(message)]
    if thread is None:
        return lines, False
    try:
        replies = [m async for m in thread.history(limit=limit)]
    except discord.HTTPException as error:
        log.warning("cannot read thread %s: HTTP %s", thread.id, error.status)
        return lines, False
    except (OSError, TimeoutError, aiohttp.ClientError):
        # Discord unreachable: the member still gets an answer about the message they picked.
        log.warning("cannot read thread %s", thread.id, exc_info=True)
        return lines, False
    return lines + [said(m) for m in reversed(replies)], True


def add_ask_commands(
    tree: app_commands.CommandTree[discord.Client],
    core: ByokCore,
    options: DiscordOptions,
    background: BackgroundTasks,
) -> None:
    """Answers run as the client's tracked work, like mentions: closing the client lets them
    finish (within the grace) or cuts them."""

    @tree.command(name="ask", description="Ask privately: only you see the answer")
    @app_commands.allowed_contexts(**ANYWHERE)
    @app_commands.describe(question="What to ask", image="An image to ask about")
    async def ask(
        interaction: discord.Interaction,
        question: str,
        image: discord.Attachment | None = None,
    ) -> None:
        await think_privately(interaction)
        files = (attachment_of(image),) if image is not None else ()
        message = _question(interaction, question, files)
        sink = EphemeralSink(interaction=interaction, timing=options.timing)
        background.spawn(core.answer_privately(message, sink), name=f"discord-ask:{interaction.id}")

    async def ask_about(interaction: discord.Interaction, target: discord.Message) -> None:
        await think_privately(interaction)
        client = interaction.client
        me = client.user.id if client.user is not None else 0
        said, is_thread = await _said(target, me, options.history_limit)
        message = _question(interaction, "", attachments_of(target))
        sink = EphemeralSink(interaction=interaction, timing=options.timing)
        background.spawn(
            core.answer_about(message, said, sink, summary=is_thread),
            name=f"discord-ask-about:{interaction.id}",
        )

    menu = app_commands.ContextMenu(
        name=ASK_ABOUT_MENU,
        callback=ask_about,
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
    )
    tree.add_command(menu)
