"""Discord attachments as the core's Attachment: downloaded from Discord's CDN only when the
core asks, and only when Discord's own size for the file is within the core's limit."""

from __future__ import annotations

import logging

import discord

from bot.domain import Attachment, AttachmentRefused, AttachmentTooLarge

log = logging.getLogger(__name__)


def attachment_of(file: discord.Attachment) -> Attachment:
    async def fetch(limit: int) -> bytes:
        # Discord measured the upload itself, so a file over the limit is never downloaded.
        if file.size > limit:
            raise AttachmentTooLarge
        try:
            data = await file.read()
        except discord.HTTPException as error:
            log.warning("cannot download attachment %s: HTTP %s", file.id, error.status)
            raise AttachmentRefused from None
        if len(data) > limit:
            raise AttachmentTooLarge
        return data

    return Attachment(file.filename, file.content_type or "", file.size, fetch)


def attachments_of(*messages: discord.Message | None) -> tuple[Attachment, ...]:
    return tuple(
        attachment_of(file)
        for message in messages
        if message is not None
        for file in message.attachments
    )


async def replied_to(message: discord.Message) -> discord.Message | None:
    """The message `message` replies to, as Discord sent it along or fetched."""
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    if isinstance(reference.resolved, discord.Message):
        return reference.resolved
    if isinstance(reference.resolved, discord.DeletedReferencedMessage):
        return None
    try:
        return await message.channel.fetch_message(reference.message_id)
    except discord.HTTPException as error:
        log.warning("cannot read the message %s replies to: HTTP %s", message.id, error.status)
        return None
