"""/byok-config: a server admin's choices, stored per server by the core."""

from __future__ import annotations

import dataclasses
import re

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.prompts import LongTextModal, place_of
from adapters.discord.replies import answer_privately
from adapters.discord.router import discord_member
from bot import texts as bot_texts
from bot.admin import SettingsRequest
from bot.core import ByokCore
from bot.ports import StoreError

# `<#123>` as Discord sends a channel mention, or a bare channel id (a snowflake).
_CHANNEL = re.compile(r"<#(\d{15,21})>|(\d{15,21})")
THREAD = "thread"
IN_PLACE = "in-place"
SERVER_PROMPT = "server"
CHANNEL_PROMPT = "channel"
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
        prompt="Edit the server's system prompt, or this channel's, in a form",
    )
    @app_commands.choices(
        answers=[
            app_commands.Choice(name="in a new thread", value=THREAD),
            app_commands.Choice(name="in place", value=IN_PLACE),
        ],
        prompt=[
            app_commands.Choice(name="the server's prompt", value=SERVER_PROMPT),
            app_commands.Choice(name="this channel's prompt", value=CHANNEL_PROMPT),
        ],
    )
    async def byok_config(
        interaction: discord.Interaction,
        channels: str | None = None,
        model: str | None = None,
        answers: app_commands.Choice[str] | None = None,
        daily_cap: str | None = None,
        monthly_cap: str | None = None,
        prompt: app_commands.Choice[str] | None = None,
    ) -> None:
        # default_permissions only hides the command; server owners can override that.
        if interaction.guild_id is None:
            await answer_privately(interaction, texts.CONFIG_GUILD_ONLY)
            return
        if not is_server_admin(interaction):
            await answer_privately(interaction, texts.CONFIG_ADMIN_ONLY)
            return
        request = SettingsRequest(
            channels=channels,
            model=model,
            answers=answers.value if answers else None,
            daily_cap=daily_cap,
            monthly_cap=monthly_cap,
        )
        server, here = place_of(interaction)
        actor = discord_member(interaction.user)

        async def configure(request: SettingsRequest) -> str:
            reply = await core.configure_workspace(
                actor,
                workspace=server,
                request=request,
                channel_id=channel_id,
                place=PLACE,
                here=here,
            )
            return reply.text

        if prompt is None:
            await answer_privately(interaction, await configure(request))
            return
        # The prompt is long text: a form for it, the other choices applied with it.
        for_channel = prompt.value == CHANNEL_PROMPT
        try:
            config = await core.store.get_workspace_config(actor.platform, server)
        except StoreError:
            await answer_privately(interaction, bot_texts.STORE_UNAVAILABLE)
            return
        current = config.channel_prompts.get(here) if for_channel else config.system_prompt

        async def submit(done: discord.Interaction, text: str) -> str:
            if not is_server_admin(done):
                # The form may be sent long after it opened: the rights are checked again.
                return texts.CONFIG_ADMIN_ONLY
            field = "channel_prompt" if for_channel else "prompt"
            return await configure(dataclasses.replace(request, **{field: text}))

        await interaction.response.send_modal(
            LongTextModal(
                title=texts.CHANNEL_PROMPT_MODAL_TITLE
                if for_channel
                else texts.SERVER_PROMPT_MODAL_TITLE,
                label=texts.PROMPT_FIELD_LABEL,
                current=current,
                submit=submit,
            )
        )
