"""/byok-config: a server admin's choices, stored per server by the core."""

from __future__ import annotations

import re

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.replies import answer_privately
from adapters.discord.router import discord_member
from bot.admin import SettingsRequest
from bot.core import ByokCore

# `<#123>` as Discord sends a channel mention, or a bare channel id (a snowflake).
_CHANNEL = re.compile(r"<#(\d{15,21})>|(\d{15,21})")
THREAD = "thread"
IN_PLACE = "in-place"
PLACE = "server"


def channel_id(word: str) -> str | None:
    match = _CHANNEL.fullmatch(word)
    return (match.group(1) or match.group(2)) if match else None


def is_server_admin(interaction: discord.Interaction) -> bool:
    # Discord computes these from the member's roles and sends them with the interaction.
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def add_config_command(tree: app_commands.CommandTree[discord.Client], core: ByokCore) -> None:
    @tree.command(name="byok-config", description="Server settings for byok-bot (Manage Server)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        channels="`all`, or the channels to answer in, e.g. #help #ai",
        model="The server's default model; `default` clears it",
        answers="Answer in a new thread, or in place",
        daily_cap="Cap on each member's daily spending here, e.g. `2 usd`, `50000 tokens`, `off`",
        monthly_cap="Cap on each member's monthly spending here, e.g. `20 usd`, `off`",
    )
    @app_commands.choices(
        answers=[
            app_commands.Choice(name="in a new thread", value=THREAD),
            app_commands.Choice(name="in place", value=IN_PLACE),
        ]
    )
    async def byok_config(
        interaction: discord.Interaction,
        channels: str | None = None,
        model: str | None = None,
        answers: app_commands.Choice[str] | None = None,
        daily_cap: str | None = None,
        monthly_cap: str | None = None,
    ) -> None:
        # default_permissions only hides the command; server owners can override that.
        if interaction.guild_id is None:
            await answer_privately(interaction, texts.CONFIG_GUILD_ONLY)
            return
        if not is_server_admin(interaction):
            await answer_privately(interaction, texts.CONFIG_ADMIN_ONLY)
            return
        reply = await core.configure_workspace(
            discord_member(interaction.user),
            workspace=str(interaction.guild_id),
            request=SettingsRequest(
                channels=channels,
                model=model,
                answers=answers.value if answers else None,
                daily_cap=daily_cap,
                monthly_cap=monthly_cap,
            ),
            channel_id=channel_id,
            place=PLACE,
        )
        await answer_privately(interaction, reply.text)
