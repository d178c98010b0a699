"""The member commands: setkey, removekey, mykey, model, help, forget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot import texts
from bot.audit import AuditEvent, AuditTrail
from bot.domain import Member, Reply, Severity, StoredKey
from bot.intake import KeyIntakeLimits
from bot.keys import KeyRefusal, contains_key, mask_key, normalise_key
from bot.model_fit import fallback_model
from bot.ports import FailureKind, ProviderError, ProviderGateway, Store, StoreError
from bot.prompts import PromptRefused, check_prompt, describe_prompt, prompt_here
from bot.spending import SpendingCommands
from bot.turns import TurnsInFlight
from bot.usage import UsageLedger
from bot.vault import KeyVault, VaultError

log = logging.getLogger(__name__)

COMMAND_NAMES = (
    "setkey",
    "removekey",
    "mykey",
    "model",
    "usage",
    "limit",
    "instructions",
    "help",
    "forget",
)
RECENT_EVENTS_SHOWN = 5

# Model ids a chat answer cannot come from; hidden from /model lists.
_NOT_CHAT = (
    "embedding",
    "tts",
    "whisper",
    "dall-e",
    "moderation",
    "davinci",
    "babbage",
    "transcribe",
    "image",
    "audio",
    "realtime",
    "search",
    "computer-use",
    "sora",
)


def chat_models(models: list[str]) -> list[str]:
    return [m for m in models if not any(marker in m for marker in _NOT_CHAT)]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a member may see about their own key."""

    masked: str
    status: str
    set_at: datetime
    validated_at: datetime | None
    last_used_at: datetime | None
    model: str


class MemberCommands:
    def __init__(
        self,
        *,
        store: Store,
        vault: KeyVault,
        gateway: ProviderGateway,
        audit: AuditTrail,
        spending: SpendingCommands,
        ledger: UsageLedger,
        turns: TurnsInFlight,
        intake: KeyIntakeLimits,
        default_model: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._vault = vault
        self._gateway = gateway
        self._audit = audit
        self._spending = spending
        self._ledger = ledger
        self._turns = turns
        self._intake = intake
        self._default_model = default_model
        self._clock = clock

    async def run(
        self, member: Member, name: str, argument: str = "", *, server: str = "", channel: str = ""
    ) -> Reply:
        """Run a command by its platform-neutral name; `server` and `channel` say where it
        was typed (empty in a DM), for /help. A database failure is told as such (nothing
        changed) and logged; the bot goes on serving."""
        try:
            return await self._run(member, name, argument, server=server, channel=channel)
        except StoreError:
            log.error("/%s for %s: the database failed", name, member, exc_info=True)
            return Reply(texts.STORE_UNAVAILABLE, Severity.ERROR)

    async def _run(
        self, member: Member, name: str, argument: str, *, server: str, channel: str
    ) -> Reply:
        match name:
            case "setkey":
                return await self.set_key(member, argument)
            case "removekey":
                return await self.remove_key(member)
            case "mykey":
                return await self.my_key(member)
            case "model":
                return await self.choose_model(member, argument.strip() or None)
            case "usage":
                return await self._spending.usage(member)
            case "limit":
                return await self._spending.limit(member, argument)
            case "instructions":
                return await self.instructions(member, argument)
            case "forget":
                return await self.forget(member)
            case _:
                return await self.help(member, server=server, channel=channel)

    async def help(self, member: Member, *, server: str = "", channel: str = "") -> Reply:
        """The commands, and which prompt applies where /help was typed."""
        try:
            config = (
                await self._store.get_workspace_config(member.platform, server) if server else None
            )
            instructions = await self._store.get_instructions(member)
        except StoreError:
            # Help without the prompt line beats no help.
            log.warning("/help for %s without prompts: the database failed", member)
            return Reply(texts.HELP)
        place = "workspace" if member.platform == "slack" else "server"
        line = describe_prompt(
            prompt_here(config, channel, ""), has_instructions=bool(instructions), place=place
        )
        return Reply(f"{texts.HELP}\n{line}")

    async def current_instructions(self, member: Member) -> str | None:
        """The member's own instructions, to fill the form that edits them."""
        return await self._store.get_instructions(member)

    async def instructions(self, member: Member, text: str) -> Reply:
        """Show (no text), set, or clear (`clear`) the member's own instructions."""
        if not text.strip():
            current = await self._store.get_instructions(member)
            return Reply(texts.instructions_shown(current) if current else texts.INSTRUCTIONS_NONE)
        checked = check_prompt(text)
        if isinstance(checked, PromptRefused):
            return Reply(checked.reason, Severity.REFUSED)
        await self._store.set_instructions(member, checked)
        if checked is None:
            return Reply(texts.INSTRUCTIONS_CLEARED)
        return Reply(texts.instructions_saved(checked))

    async def set_key(self, member: Member, raw: str) -> Reply:
        key = normalise_key(raw)
        if isinstance(key, KeyRefusal):
            await self._audit.record(member, AuditEvent.KEY_REFUSED, "malformed")
            return Reply(key.reason, Severity.REFUSED)
        # Only input that would reach the provider counts: a fumbled paste costs no try.
        try:
            throttled = await self._intake.admit(member)
        except StoreError:
            # The try could not be counted, so the provider is not asked either.
            log.error("key check for %s not started: the database failed", member, exc_info=True)
            return Reply(texts.STORE_UNAVAILABLE, Severity.ERROR)
        if throttled is not None:
            await self._audit.record(member, AuditEvent.KEY_INTAKE_THROTTLED, throttled.scope)
            log.warning("key intake throttled for %s (%s bound)", member, throttled.scope)
            return Reply(
                texts.too_many_key_tries(
                    throttled.minutes,
                    per_member=self._intake.per_member,
                    span_minutes=round(self._intake.span.total_seconds() / 60),
                    whole_workspace=throttled.scope == "workspace",
                ),
                Severity.REFUSED,
            )
        try:
            models = await self._gateway.list_models(key)
        except ProviderError as error:
            await self._audit.record(member, AuditEvent.KEY_REFUSED, error.kind.value)
            if error.kind in (FailureKind.UNAUTHORIZED, FailureKind.BAD_REQUEST):
                return Reply(texts.KEY_REJECTED, Severity.REFUSED)
            if error.kind.transient:
                return Reply(texts.KEY_UNREACHABLE, Severity.ERROR)
            return Reply(texts.provider_failure(error.kind), Severity.REFUSED)
        masked = mask_key(key)
        try:
            await self._store.save_key(
                member,
                sealed=self._vault.seal(member, key),
                masked=masked,
                fingerprint=self._vault.sealing_fingerprint,
                now=self._clock(),
            )
        except StoreError:
            # The transaction rolled back: the member's earlier key, if any, is untouched.
            log.error("key of %s validated but not saved", member, exc_info=True)
            return Reply(texts.KEY_NOT_SAVED, Severity.ERROR)
        await self._audit.record(member, AuditEvent.KEY_VALIDATED)
        await self._audit.record(member, AuditEvent.KEY_SET)
        log.info("key set for %s", member)
        saved = texts.key_saved(masked, len(chat_models(models)))
        fitted = await self._fit_model(member, chat_models(models))
        return Reply(f"{saved}\n{fitted}" if fitted else saved)

    async def _fit_model(self, member: Member, usable: list[str]) -> str | None:
        """When the new key cannot use the model the member's turns would use, pick one it
        can and say so; None when nothing changed."""
        if not usable:
            # A provider that lists no chat models says nothing about what the key can use.
            return None
        try:
            chosen = await self._store.get_model(member)
            workspace_default = (
                (
                    await self._store.get_workspace_config(member.platform, member.workspace)
                ).default_model
                if member.workspace
                else None
            )
            default = workspace_default or self._default_model
            wanted = chosen or default
            if wanted in usable:
                return None
            if chosen is not None and default in usable:
                # The member's pick does not suit the new key, the default does.
                await self._store.set_model(member, None)
                return texts.model_fallback(wanted, default)
            fallback = fallback_model(usable)
            await self._store.set_model(member, fallback)
        except StoreError:
            # The key is saved; the model is the one thing left as it was.
            log.error("model of %s not fitted to the new key", member, exc_info=True)
            return None
        log.info("model of %s fitted to the new key", member)
        return texts.model_fallback(wanted, fallback)

    async def remove_key(self, member: Member) -> Reply:
        try:
            deleted = await self._store.delete_key(member)
        except StoreError:
            log.error("key of %s not removed", member, exc_info=True)
            return Reply(texts.KEY_NOT_REMOVED, Severity.ERROR)
        if deleted:
            await self._audit.record(member, AuditEvent.KEY_REMOVED)
            log.info("key removed for %s", member)
            return Reply(texts.KEY_REMOVED)
        return Reply(texts.NO_KEY_TO_REMOVE)

    async def model_for(self, member: Member, workspace_default: str | None = None) -> str:
        return self.model_of(await self._store.get_model(member), workspace_default)

    def model_of(self, chosen: str | None, workspace_default: str | None) -> str:
        """The member's own choice, else the workspace's default, else the operator's."""
        return chosen or workspace_default or self._default_model

    async def key_info(self, member: Member) -> KeyInfo | None:
        stored = await self._store.get_key(member)
        if stored is None:
            return None
        return KeyInfo(
            masked=stored.masked,
            status=stored.status,
            set_at=stored.set_at,
            validated_at=stored.validated_at,
            last_used_at=stored.last_used_at,
            model=await self.model_for(member),
        )

    async def my_key(self, member: Member) -> Reply:
        info = await self.key_info(member)
        if info is None:
            return Reply(texts.HOW_TO_SET_KEY)
        status = "working" if info.status == "valid" else "rejected by the provider; run `/setkey`"
        events = await self._store.audit_events(member=member, limit=RECENT_EVENTS_SHOWN)
        lines = [
            f"Your key: `{info.masked}` ({status})",
            f"Set: {_when(info.set_at)}",
            f"Last checked: {_when(info.validated_at)}",
            f"Last used: {_when(info.last_used_at)}",
            f"Model: `{info.model}`",
            "Recent events:",
            *(f"  • {_when(e.at)} {e.event.replace('_', ' ')} ({e.outcome})" for e in events),
        ]
        return Reply("\n".join(lines))

    async def open_key(self, member: Member) -> tuple[StoredKey, str] | None:
        """The stored row and its plaintext, just before a call; never cached."""
        stored = await self._store.get_key(member)
        if stored is None:
            return None
        return stored, self.unseal(stored)

    def unseal(self, stored: StoredKey) -> str:
        """The plaintext of a row already read, for its owner's call; never cached."""
        return self._vault.open(stored.member, stored.sealed)

    async def available_models(self, member: Member) -> list[str]:
        """The chat models the member's own key can list, for autocomplete; empty when the
        member has no usable key or the provider cannot be asked right now."""
        try:
            opened = await self.open_key(member)
            if opened is None:
                return []
            return chat_models(await self._gateway.list_models(opened[1]))
        except (ProviderError, VaultError, StoreError):
            return []

    async def choose_model(self, member: Member, model: str | None) -> Reply:
        if model is not None and contains_key(model):
            # Never repeat it: the member typed a key where a model name goes.
            return Reply(texts.MODEL_IS_A_KEY, Severity.REFUSED)
        if model in ("default", "reset"):
            await self._store.set_model(member, None)
            return Reply(texts.MODEL_RESET)
        try:
            opened = await self.open_key(member)
        except VaultError:
            return Reply(texts.UNREADABLE_KEY, Severity.ERROR)
        if opened is None:
            return Reply(texts.HOW_TO_SET_KEY, Severity.REFUSED)
        stored, api_key = opened
        try:
            models = chat_models(await self._gateway.list_models(api_key))
        except ProviderError as error:
            if error.kind is FailureKind.UNAUTHORIZED and not await self.key_rejected(
                member, stored.key_id
            ):
                return Reply(texts.STALE_KEY_REJECTED, Severity.ERROR)
            return Reply(
                texts.provider_failure(error.kind, retry_after=error.retry_after), Severity.ERROR
            )
        if await self._store.mark_key_validated(member, stored.key_id, self._clock()):
            await self._audit.record(member, AuditEvent.KEY_VALIDATED)
        if model is None:
            return Reply(texts.models_list(models, await self.model_for(member)))
        if model not in models:
            return Reply(texts.model_unknown(model), Severity.REFUSED)
        await self._store.set_model(member, model)
        return Reply(texts.model_chosen(model))

    async def key_rejected(self, member: Member, key_id: str) -> bool:
        """The provider refused the key `key_id` names: mark it so no more calls are spent on it.

        False when that key was replaced or removed while the call was under way: the
        current key (or the absence of one) is left alone and nothing is recorded, so a late
        401 neither locks the member out nor puts a row back after /forget."""
        try:
            marked = await self._store.mark_key_invalid(member, key_id)
        except StoreError:
            # The member is still told; the next turn meets the same 401 and tries again.
            log.error("refused key of %s not marked invalid", member, exc_info=True)
            return True
        if not marked:
            log.info("a key of %s that is no longer stored was refused; nothing changed", member)
            return False
        await self._audit.record(member, AuditEvent.PROVIDER_AUTH_FAILED, "unauthorized")
        return True

    async def forget(self, member: Member) -> Reply:
        # Answers in flight are stopped first and none starts until the rows are gone: a turn
        # ending after the delete would write a usage row or an audit event naming them again.
        async with self._turns.stopped(lambda other: other == member), self._ledger.paused():
            self._ledger.discard(member=member)
            try:
                await self._store.forget_member(member, now=self._clock())
            except StoreError:
                log.error("data of %s not forgotten", member, exc_info=True)
                return Reply(texts.FORGET_FAILED, Severity.ERROR)
        log.info("member data forgotten for %s", member)
        return Reply(texts.FORGOTTEN)
