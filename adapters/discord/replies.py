"""Private (ephemeral) answers to slash commands and modals."""

from __future__ import annotations

import discord

from adapters.discord.render import NO_MENTIONS, split_message


async def think_privately(interaction: discord.Interaction) -> None:
    """Acknowledge within Discord's three seconds; the answer may need the provider."""
    await interaction.response.defer(ephemeral=True, thinking=True)


async def answer_privately(interaction: discord.Interaction, text: str) -> None:
    pieces = split_message(text)
    if interaction.response.is_done():
        await interaction.edit_original_response(content=pieces[0], allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(
            pieces[0], ephemeral=True, allowed_mentions=NO_MENTIONS
        )
    for piece in pieces[1:]:
        await interaction.followup.send(piece, ephemeral=True, allowed_mentions=NO_MENTIONS)
