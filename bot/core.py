"""The entry point adapters call: leak guard, DM registration, then the conversation."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace

from bot import texts
from bot.about import Said, question_about
from bot.admin import (
    ChannelReader,
    SettingsRefused,
    SettingsRequest,
    apply_settings,
    settings_summary,
)
from bot.audit import AuditEvent, AuditTrail
from bot.commands import MemberCommands
from bot.conversation import Conversation, TurnResult
from bot.domain import IncomingMessage, Member, Reply, Severity, TurnContext, WorkspaceConfig
from bot.keys import contains_key, lone_key, scan_keys
from bot.ports import ReplySink, Store, StoreError
from bot.turns import TurnsInFlight
from bot.usage import UsageLedger

log = logging.getLogger(__name__)

_DM_SETKEY = re.compile(r"^\s*/?setkey\b(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)


class ByokCore:
    """Every rule about incoming messages, once, for every platform."""

    def __init__(
        self,
        *,
        store: Store,
        commands: MemberCommands,
        conversation: Conversation,
        audit: AuditTrail,
        ledger: UsageLedger,
        turns: TurnsInFlight,
    ) -> None:
        self.store = store
        self.commands = commands
        self._conversation = conversation
        self._audit = audit
        self._ledger = ledger
        self._turns = turns

    async def handle_message(
        self, message: IncomingMessage, sink: ReplySink, *, context: TurnContext | None = None
    ) -> TurnResult | None:
        """Handle one message the bot can read; returns the turn when a provider was asked.

        `context` is what the adapter already read with `read_turn_context` for this message,
        so the turn makes no second round trip to the database."""
        if message.is_private:
            reply = await self._private_registration(message)
            if reply is not None:
                await sink.private(reply.text)
                return None
        elif contains_key(message.text):
            await self._leak_guard(message, sink)
            return None
        if not message.addressed:
            return None
        return await self._answer_addressed(message, sink, context)

    async def answer_privately(
        self, message: IncomingMessage, sink: ReplySink
    ) -> TurnResult | None:
        """A question whose answer only the asker sees (/ask): its text reached the bot alone,
        so a key in it has leaked nowhere, and is neither used nor stored: the member is
        pointed to /setkey."""
        if contains_key(message.text):
            await sink.private(texts.KEY_IN_PRIVATE_QUESTION)
            return None
        return await self._answer_addressed(message, sink)

    async def answer_about(
        self, message: IncomingMessage, said: Sequence[Said], sink: ReplySink, *, summary: bool
    ) -> TurnResult | None:
        """Answer privately about messages already there (a thread to summarise, a message
        to explain), read back with their speakers, within the context budget."""
        if not any(line.text.strip() for line in said) and not message.attachments:
            await sink.private(texts.NOTHING_TO_READ)
            return None
        question = question_about(said, summary=summary, max_chars=self._conversation.context_chars)
        return await self.answer_privately(replace(message, text=question), sink)

    async def _answer_addressed(
        self, message: IncomingMessage, sink: ReplySink, context: TurnContext | None = None
    ) -> TurnResult | None:
        if not (message.text.strip() or message.attachments):
            return None
        if context is None:
            try:
                context = await self._turn_context(message)
            except StoreError:
                log.error(
                    "turn of %s not started: the database failed", message.member, exc_info=True
                )
                await sink.private(texts.STORE_UNAVAILABLE)
                return None
        if not message.is_private and not context.config.allows(message.channel):
            await sink.private(texts.CHANNEL_NOT_ALLOWED)
            return None
        return await self._conversation.answer(message, sink, context=context)

    async def read_turn_context(self, message: IncomingMessage) -> TurnContext | None:
        """What a turn on `message` needs from the database (the place's settings, say whether
        to answer in a new thread), for an adapter to read before it builds its sink and hand
        to handle_message. None when the database cannot say: the turn then tells why."""
        try:
            return await self._turn_context(message)
        except StoreError:
            return None

    async def _turn_context(self, message: IncomingMessage) -> TurnContext:
        return await self.store.turn_context(message.member, server=message.server)

    async def configure_workspace(
        self,
        actor: Member,
        *,
        workspace: str,
        request: SettingsRequest,
        channel_id: ChannelReader,
        place: str,
        here: str = "",
    ) -> Reply:
        """Show or change a workspace's settings for an admin (the adapter has checked the
        actor's admin rights on the platform's own terms, for this `workspace`); `here` is
        the channel the command was typed in, whose prompt `request.channel_prompt` sets."""
        try:
            config = await self.store.get_workspace_config(actor.platform, workspace)
            if request.empty:
                return Reply(settings_summary(config, place=place, changed=False, here=here))
            updated = apply_settings(config, request, channel_id=channel_id, here=here)
            if isinstance(updated, SettingsRefused):
                return Reply("\n".join(updated.reasons), Severity.REFUSED)
            # Saved even when unchanged: every act of an admin is audited.
            await self.update_workspace_config(actor, updated)
        except StoreError:
            log.error("settings of %s not changed", workspace, exc_info=True)
            return Reply(texts.STORE_UNAVAILABLE, Severity.ERROR)
        return Reply(settings_summary(updated, place=place, changed=True, here=here))

    async def update_workspace_config(self, actor: Member, config: WorkspaceConfig) -> None:
        """Save an admin's choices; the adapter has already checked the actor's admin rights."""
        await self.store.save_workspace_config(config)
        await self._audit.record(actor, AuditEvent.ADMIN_CONFIG_CHANGED, place=config.workspace)
        log.info(
            "workspace config of %s:%s changed by %s", config.platform, config.workspace, actor
        )

    async def forget_workspace(self, platform: str, workspace: str) -> int:
        """The app was uninstalled: delete the workspace's settings and every member's key."""

        def in_workspace(member: Member) -> bool:
            return (member.platform, member.workspace) == (platform, workspace)

        # As for /forget: no answer in flight may write a row after the delete.
        async with self._turns.stopped(in_workspace), self._ledger.paused():
            self._ledger.discard(platform=platform, workspace=workspace)
            removed = await self.store.delete_workspace(platform, workspace)
        await self._audit.record_anonymous(platform, workspace, AuditEvent.WORKSPACE_FORGOTTEN)
        log.info("workspace %s:%s forgotten (%d keys deleted)", platform, workspace, removed)
        return removed

    async def _private_registration(self, message: IncomingMessage) -> Reply | None:
        """In a DM, a key (alone, after `setkey`, or inside other text) registers it."""
        command = _DM_SETKEY.match(message.text)
        if command is not None:
            rest = command.group("rest").strip()
            if not rest:
                return Reply(self.commands.how_to_set_key())
            return await self.commands.set_key_from(message.member, rest)
        found = scan_keys(message.text)
        if not found:
            return None
        # The key as issued, whatever disguise it came in: that is what the provider accepts.
        reply = await self.commands.set_key(message.member, found[0].key)
        if lone_key(message.text) is None:
            return Reply(f"{reply.text}\n{texts.DM_KEY_WITH_TEXT}", reply.severity)
        return reply

    async def _leak_guard(self, message: IncomingMessage, sink: ReplySink) -> None:
        deleted = await sink.delete_original()
        await self._audit.record(
            message.member,
            AuditEvent.LEAK_DETECTED,
            "deleted" if deleted else "not_deleted",
            place=message.channel,
        )
        log.warning(
            "key pattern seen in a channel message from %s (deleted=%s)", message.member, deleted
        )
        await sink.private(self._leak_warning(message.text, deleted))

    def _leak_warning(self, text: str, deleted: bool) -> str:
        """Where to revoke the leaked key: its provider's own key page."""
        providers = self.commands.providers
        found = scan_keys(text)
        provider = providers.matching_key(found[0].key) if found else None
        if provider is None and not providers.several:
            provider = providers.default
        if provider is None:
            return texts.leak_warning(
                deleted, provider_name="", keys_page="your provider's key page"
            )
        return texts.leak_warning(
            deleted, provider_name=provider.name, keys_page=provider.keys_page
        )
