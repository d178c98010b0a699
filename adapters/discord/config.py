"""/byok-config: a server admin's choices, stored per server by the core."""

from __future__ import annotations

import dataclasses
import re

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.replies import answer_privately
from adapters.discord.router import PLATFORM, discord_member
from bot.admin import BAD_CAP, settings_summary
from bot.core import ByokCore
from bot.domain import Cap, CapPeriod, WorkspaceConfig
from bot.limits import parse_cap

_CHANNEL = re.compile(r"<#(\d+)>|\b(\d{15,21})\b")
THREAD = "thread"
IN_PLACE = "in-place"


def parse_channels(text: str) -> frozenset[str] | None:
    """`all` (every channel), or the mentioned channel ids; None when nothing made sense."""
    if text.strip().lower() in ("all", "*", "every", "everywhere"):
        return frozenset()
    ids = frozenset(a or b for a, b in _CHANNEL.findall(text))
    return ids or None


def is_server_admin(interaction: discord.Interaction) -> bool:
    # Discord computes these from the member's roles and sends them with the interaction.
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def summary(config: WorkspaceConfig, *, changed: bool) -> str:
    return settings_summary(config, place="server", changed=changed)


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
        config = await core.store.get_workspace_config(PLATFORM, str(interaction.guild_id))
        changes: dict[str, object] = {}
        if channels is not None:
            allowed = parse_channels(channels)
            if allowed is None:
                await answer_privately(interaction, texts.CONFIG_BAD_CHANNELS)
                return
            changes["allowed_channels"] = allowed
        if model is not None:
            name = model.strip()
            if not name or any(ch.isspace() for ch in name):
                await answer_privately(interaction, texts.CONFIG_BAD_MODEL)
                return
            changes["default_model"] = None if name.lower() == "default" else name
        if answers is not None:
            changes["threaded"] = answers.value == THREAD
        caps: dict[CapPeriod, Cap] = dict(config.member_caps)
        requested: tuple[tuple[CapPeriod, str | None], ...] = (
            ("daily", daily_cap),
            ("monthly", monthly_cap),
        )
        for period, text in requested:
            if text is None:
                continue
            request = parse_cap(period, text)
            if request is None:
                await answer_privately(interaction, BAD_CAP)
                return
            if request.cap is None:
                caps.pop(period, None)
            else:
                caps[period] = request.cap
        if caps != config.member_caps:
            changes["member_caps"] = caps
        if changes:
            config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
            await core.update_workspace_config(discord_member(interaction.user), config)
        await answer_privately(interaction, summary(config, changed=bool(changes)))
