"""The discord.py client, wired to the core and not yet connected."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.ask import add_ask_commands
from adapters.discord.config import add_config_command
from adapters.discord.options import DiscordOptions
from adapters.discord.render import NO_MENTIONS
from adapters.discord.replies import answer_privately
from adapters.discord.router import MessageRouter
from adapters.discord.slash import add_member_commands
from adapters.tasks import BackgroundTasks
from bot.core import ByokCore

log = logging.getLogger(__name__)


def intents_for(options: DiscordOptions) -> discord.Intents:
    intents = discord.Intents.default()
    # Privileged: lets the leak guard see messages that do not mention the bot.
    intents.message_content = options.message_content
    return intents


class CommandTree(app_commands.CommandTree[discord.Client]):
    """Slash commands; a failure is logged with its traceback and told to the member."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        name = interaction.command.name if interaction.command else "?"
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        log.error("/%s failed for %s", name, interaction.user.id, exc_info=cause)
        try:
            await answer_privately(interaction, texts.COMMAND_FAILED)
        except discord.HTTPException as failure:
            log.warning("could not report the failure of /%s: HTTP %s", name, failure.status)


class ByokDiscordClient(discord.Client):
    def __init__(self, *, core: ByokCore, options: DiscordOptions) -> None:
        super().__init__(
            intents=intents_for(options),
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=options.guild_ready_timeout,
            shard_count=options.shard_count,
        )
        self.core = core
        self.options = options
        self.background = BackgroundTasks()
        self.tree = CommandTree(self)
        add_member_commands(self.tree, core.commands)
        add_config_command(self.tree, core)
        add_ask_commands(self.tree, core, options, self.background)
        self._router = MessageRouter(
            client=self, core=core, options=options, background=self.background
        )

    async def setup_hook(self) -> None:
        if not self.options.syncs_commands:
            log.info("slash commands are left to the process that runs shard 0")
            return
        if self.options.dev_guild_id is not None:
            guild = discord.Object(id=self.options.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to server %s", len(synced), guild.id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d slash commands globally", len(synced))

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s in %d servers", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        # Tracked, so closing the client cancels answers still streaming.
        self.background.spawn(self._router.handle(message), name=f"discord-message:{message.id}")

    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        # A key added by an edit is a leak too; an edit never asks a new question.
        if after.content != before.content:
            self.background.spawn(
                self._router.handle(after, edited=True), name=f"discord-edit:{after.id}"
            )

    async def close(self) -> None:
        await self.background.close()
        await super().close()


class ShardedByokDiscordClient(ByokDiscordClient, discord.AutoShardedClient):
    """The same bot over some shards of a sharded connection: Discord sends each shard only
    the events of its guilds ((guild_id >> 22) % shard_count) and DMs to shard 0, so processes
    running disjoint shard ids never see the same event."""

    def __init__(self, *, core: ByokCore, options: DiscordOptions) -> None:
        super().__init__(core=core, options=options)
        # ByokDiscordClient passes only what a plain Client takes; AutoShardedClient reads its
        # public `shard_ids` when it connects (None: every shard of the count).
        self.shard_ids = None if options.shard_ids is None else list(options.shard_ids)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(self.options.identify_interval)

    async def on_ready(self) -> None:
        shards = ", ".join(map(str, sorted(self.shards)))
        log.info(
            "connected to Discord as %s in %d servers (shards %s of %s)",
            self.user,
            len(self.guilds),
            shards,
            self.shard_count,
        )


def build_discord_client(*, core: ByokCore, options: DiscordOptions) -> ByokDiscordClient:
    """The client, wired to the core, not connected: start it with `client.start(token)`."""
    if options.sharded:
        return ShardedByokDiscordClient(core=core, options=options)
    return ByokDiscordClient(core=core, options=options)
