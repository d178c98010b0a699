"""Long text typed in a modal: a member's /instructions, a server's or channel's prompt.
Every rule about the text (its length, a key in it) is the core's; these only carry it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from adapters.discord import texts
from adapters.discord.replies import answer_privately, think_privately
from bot.prompts import MAX_PROMPT_CHARS

log = logging.getLogger(__name__)

# What the modal's text becomes: the core's reply, shown privately.
Submit = Callable[[discord.Interaction, str], Awaitable[str]]


def place_of(interaction: discord.Interaction) -> tuple[str, str]:
    """The server and channel a command was typed in (empty in a DM); a thread counts as
    the channel it lives in, as for the allow-list."""
    if interaction.guild_id is None:
        return "", ""
    channel = interaction.channel
    channel_id = channel.parent_id if isinstance(channel, discord.Thread) else None
    return str(interaction.guild_id), str(channel_id or interaction.channel_id or "")


class LongTextModal(discord.ui.Modal):
    """One paragraph input, filled with the current text; an empty one clears it."""

    def __init__(self, *, title: str, label: str, current: str | None, submit: Submit) -> None:
        super().__init__(title=title, timeout=900)
        self._submit = submit
        self.text: discord.ui.TextInput[LongTextModal] = discord.ui.TextInput(
            label=label,
            placeholder=texts.PROMPT_FIELD_PLACEHOLDER,
            style=discord.TextStyle.paragraph,
            # The core refuses anything longer with its reason; Discord allows 4,000 at most.
            max_length=MAX_PROMPT_CHARS,
            required=False,
            default=(current or "")[:MAX_PROMPT_CHARS] or None,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.stop()
        await think_privately(interaction)
        # Empty means "clear": the core reads `off` as that.
        reply = await self._submit(interaction, self.text.value.strip() or "off")
        await answer_privately(interaction, reply)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        # Not the library's default, which would log the modal and its text.
        log.error("prompt modal failed for %s", interaction.user.id, exc_info=error)
        self.stop()
        await answer_privately(interaction, texts.COMMAND_FAILED)
