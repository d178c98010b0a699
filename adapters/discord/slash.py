"""Member slash commands, the /setkey modal and /model autocomplete."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.prompts import LongTextModal, place_of
from adapters.discord.replies import answer_privately, think_privately
from adapters.discord.router import discord_member
from bot import texts as bot_texts
from bot.commands import MemberCommands
from bot.ports import StoreError
from bot.providers import Provider

log = logging.getLogger(__name__)

MAX_CHOICES = 25
AUTOCOMPLETE_DEADLINE = 2.5
ANYWHERE = {"guilds": True, "dms": True, "private_channels": True}


class SetKeyModal(discord.ui.Modal):
    """One text input: the key travels in the interaction, never as a message."""

    def __init__(self, *, commands: MemberCommands, provider: Provider | None = None) -> None:
        super().__init__(title=texts.setkey_modal_title(provider), timeout=600)
        self._commands = commands
        self._provider = provider
        self.key: discord.ui.TextInput[SetKeyModal] = discord.ui.TextInput(
            label=texts.setkey_field_label(provider),
            placeholder=texts.SETKEY_FIELD_PLACEHOLDER,
            style=discord.TextStyle.short,
            max_length=512,
            required=True,
        )
        self.add_item(self.key)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.stop()
        await think_privately(interaction)
        reply = await self._commands.set_key(
            discord_member(interaction.user),
            self.key.value,
            provider=self._provider.id if self._provider is not None else None,
        )
        await answer_privately(interaction, reply.text)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        # The library's default would log the modal and its fields; log the failure alone
        # (the key filter scrubs the traceback too).
        log.error("/setkey modal failed for %s", interaction.user.id, exc_info=error)
        # Drop the modal now rather than keep the typed key around until it times out.
        self.stop()
        await answer_privately(interaction, texts.COMMAND_FAILED)


Run = Callable[[discord.Interaction, str, str], Awaitable[None]]


def add_provider_key_commands(
    tree: app_commands.CommandTree[discord.Client], commands: MemberCommands, run: Run
) -> None:
    """With several providers listed, /setkey and /removekey name one (a choice from the
    operator's list, never free text); the key itself still goes in the modal."""
    choices = [
        app_commands.Choice(name=provider.name, value=provider.id)
        for provider in commands.providers
    ][:MAX_CHOICES]

    @tree.command(name="setkey", description="Add or replace your API key for a provider")
    @app_commands.allowed_contexts(**ANYWHERE)
    @app_commands.describe(provider="Whose key it is")
    @app_commands.choices(provider=choices)
    async def setkey(interaction: discord.Interaction, provider: app_commands.Choice[str]) -> None:
        chosen = commands.providers.get(provider.value)
        await interaction.response.send_modal(SetKeyModal(commands=commands, provider=chosen))

    @tree.command(name="removekey", description="Delete your API key for a provider")
    @app_commands.allowed_contexts(**ANYWHERE)
    @app_commands.describe(provider="Whose key to delete; left out: your only key")
    @app_commands.choices(provider=choices)
    async def removekey(
        interaction: discord.Interaction, provider: app_commands.Choice[str] | None = None
    ) -> None:
        await run(interaction, "removekey", provider.value if provider is not None else "")


def add_member_commands(
    tree: app_commands.CommandTree[discord.Client], commands: MemberCommands
) -> None:
    async def run(interaction: discord.Interaction, name: str, argument: str = "") -> None:
        await think_privately(interaction)
        server, channel = place_of(interaction)
        reply = await commands.run(
            discord_member(interaction.user), name, argument, server=server, channel=channel
        )
        await answer_privately(interaction, reply.text)

    if commands.providers.several:
        add_provider_key_commands(tree, commands, run)
    else:

        @tree.command(name="setkey", description="Add or replace your OpenAI API key (privately)")
        @app_commands.allowed_contexts(**ANYWHERE)
        async def setkey(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(SetKeyModal(commands=commands))

        @tree.command(name="removekey", description="Delete your OpenAI API key")
        @app_commands.allowed_contexts(**ANYWHERE)
        async def removekey(interaction: discord.Interaction) -> None:
            await run(interaction, "removekey")

    @tree.command(name="mykey", description="See your key (masked), when it was used, your model")
    @app_commands.allowed_contexts(**ANYWHERE)
    async def mykey(interaction: discord.Interaction) -> None:
        await run(interaction, "mykey")

    @tree.command(name="model", description="List the models your key can use, or pick one")
    @app_commands.allowed_contexts(**ANYWHERE)
    @app_commands.describe(name="The model to answer you with; `default` goes back to the default")
    async def model(interaction: discord.Interaction, name: str | None = None) -> None:
        await run(interaction, "model", name or "")

    @model.autocomplete("name")
    async def model_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            # Discord drops an autocomplete answer after 3 s; a slow provider gets no say.
            models = await asyncio.wait_for(
                commands.available_models(discord_member(interaction.user)),
                AUTOCOMPLETE_DEADLINE,
            )
        except TimeoutError:
            log.info("no model list for autocomplete: the provider was too slow")
            return []
        wanted = current.lower().strip()
        matches = [m for m in models if wanted in m.lower()][:MAX_CHOICES]
        return [app_commands.Choice(name=m, value=m) for m in matches]

    @tree.command(name="usage", description="What your key has spent through this bot")
    @app_commands.allowed_contexts(**ANYWHERE)
    async def usage(interaction: discord.Interaction) -> None:
        await run(interaction, "usage")

    @tree.command(name="limit", description="Set or clear your spending limit, e.g. `daily 2 usd`")
    @app_commands.allowed_contexts(**ANYWHERE)
    @app_commands.describe(setting="For example `daily 2 usd`, `monthly 20 usd` or `off`")
    async def limit(interaction: discord.Interaction, setting: str | None = None) -> None:
        await run(interaction, "limit", setting or "")

    @tree.command(name="instructions", description="Your own instructions for answers to you")
    @app_commands.allowed_contexts(**ANYWHERE)
    async def instructions(interaction: discord.Interaction) -> None:
        member = discord_member(interaction.user)

        async def submit(done: discord.Interaction, text: str) -> str:
            return (await commands.run(member, "instructions", text)).text

        try:
            current = await commands.current_instructions(member)
        except StoreError:
            await answer_privately(interaction, bot_texts.STORE_UNAVAILABLE)
            return
        await interaction.response.send_modal(
            LongTextModal(
                title=texts.INSTRUCTIONS_MODAL_TITLE,
                label=texts.INSTRUCTIONS_FIELD_LABEL,
                current=current,
                submit=submit,
            )
        )

    @tree.command(name="help", description="How this bot works and its commands")
    @app_commands.allowed_contexts(**ANYWHERE)
    async def help_(interaction: discord.Interaction) -> None:
        await run(interaction, "help")

    @tree.command(name="forget", description="Delete everything the bot stores about you")
    @app_commands.allowed_contexts(**ANYWHERE)
    async def forget(interaction: discord.Interaction) -> None:
        await run(interaction, "forget")
