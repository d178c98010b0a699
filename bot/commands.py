"""The member commands: setkey, removekey, mykey, model, help, forget."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot import texts
from bot.audit import AuditEvent, AuditTrail
from bot.domain import Member, Reply, Severity, StoredKey
from bot.intake import KeyIntakeLimits
from bot.keys import KeyRefusal, contains_key, mask_key, normalise_key
from bot.model_fit import chat_models, fallback_model
from bot.ports import FailureKind, ProviderError, ProviderGateway, Store, StoreError
from bot.prompts import PromptRefused, check_prompt, describe_prompt, prompt_here
from bot.providers import ModelChoice, ModelRefusal, Provider, ProviderList, issued_elsewhere
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
    provider: str = "openai"


class MemberCommands:
    def __init__(
        self,
        *,
        store: Store,
        vault: KeyVault,
        providers: ProviderList,
        gateways: Mapping[str, ProviderGateway],
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
        self._providers = providers
        # One gateway per listed provider, each bound to the operator's base URL for it.
        self._gateways = dict(gateways)
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
                return await self.set_key_from(member, argument)
            case "removekey":
                # With one provider, /removekey is as it always was: it takes no argument.
                named = argument.strip() if self._providers.several else ""
                return await self.remove_key(member, named or None)
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
            # The same one read a turn makes here: the place's prompts and the member's own.
            here = await self._store.turn_context(member, server=server)
        except StoreError:
            # Help without the prompt line beats no help.
            log.warning("/help for %s without prompts: the database failed", member)
            return Reply(self._help_text())
        place = "workspace" if member.platform == "slack" else "server"
        line = describe_prompt(
            prompt_here(here.config if server else None, channel, ""),
            has_instructions=bool(here.instructions),
            place=place,
        )
        return Reply(f"{self._help_text()}\n{line}")

    def _help_text(self) -> str:
        if self._providers.several:
            return texts.help_with_providers(list(self._providers))
        return texts.HELP

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

    @property
    def providers(self) -> ProviderList:
        return self._providers

    def how_to_set_key(self) -> str:
        """For a member with no key: the one provider by name, or every listed one."""
        if self._providers.several:
            return texts.how_to_set_any_key([provider.name for provider in self._providers])
        return texts.how_to_set_key(self._providers.default)

    def gateway(self, provider: Provider) -> ProviderGateway:
        """The gateway bound to that provider's listed base URL (never any other)."""
        return self._gateways[provider.id]

    async def set_key_from(self, member: Member, argument: str) -> Reply:
        """`[PROVIDER] KEY`, as typed after /setkey (console, DMs, slash-command text)."""
        head, _, rest = argument.strip().partition(" ")
        named = self._providers.get(head) if self._providers.several else None
        if named is not None and not rest.strip():
            # A provider's name is not a key: never send it anywhere as one.
            return Reply(texts.setkey_needs_key(named), Severity.REFUSED)
        if named is not None:
            return await self.set_key(member, rest, provider=named.id)
        return await self.set_key(member, argument)

    async def set_key(self, member: Member, raw: str, *, provider: str | None = None) -> Reply:
        """Check the key at its provider (named, or the one its shape says, or the default)
        and seal it for this member at that provider only."""
        key = normalise_key(raw)
        if isinstance(key, KeyRefusal):
            await self._audit.record(member, AuditEvent.KEY_REFUSED, "malformed")
            return Reply(key.reason, Severity.REFUSED)
        if provider is None:
            chosen = self._providers.for_key(key)
        else:
            found = self._providers.get(provider)
            if found is None:
                return Reply(texts.unknown_provider(self._providers.ids), Severity.REFUSED)
            chosen = found
        if not chosen.accepts_key(key):
            # Never sent: a key for one provider must not travel to another.
            await self._audit.record(member, AuditEvent.KEY_REFUSED, "wrong_provider")
            return Reply(texts.key_not_this_provider(chosen), Severity.REFUSED)
        issuer = issued_elsewhere(key, chosen)
        if issuer is not None:
            # Its shape names a provider this key is not being set for (or one not listed):
            # not even a check may send it to the wrong one.
            await self._audit.record(member, AuditEvent.KEY_REFUSED, "wrong_provider")
            return Reply(texts.key_of_another_provider(issuer, chosen), Severity.REFUSED)
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
            models = await self.gateway(chosen).list_models(key)
        except ProviderError as error:
            await self._audit.record(member, AuditEvent.KEY_REFUSED, error.kind.value)
            if error.kind in (FailureKind.UNAUTHORIZED, FailureKind.BAD_REQUEST):
                return Reply(texts.KEY_REJECTED, Severity.REFUSED)
            if error.kind.transient:
                return Reply(texts.KEY_UNREACHABLE, Severity.ERROR)
            return Reply(texts.provider_failure(error.kind, provider=chosen), Severity.REFUSED)
        masked = mask_key(key)
        try:
            await self._store.save_key(
                member,
                sealed=self._vault.seal(member, key, provider=chosen.id),
                masked=masked,
                fingerprint=self._vault.sealing_fingerprint,
                now=self._clock(),
                provider=chosen.id,
            )
        except StoreError:
            # The transaction rolled back: the member's earlier key, if any, is untouched.
            log.error("key of %s validated but not saved", member, exc_info=True)
            return Reply(texts.KEY_NOT_SAVED, Severity.ERROR)
        await self._audit.record(member, AuditEvent.KEY_VALIDATED)
        await self._audit.record(member, AuditEvent.KEY_SET)
        log.info("key set for %s at %s", member, chosen.id)
        if self._providers.several:
            saved = texts.key_saved_for(masked, len(chat_models(models)), chosen)
        else:
            saved = texts.key_saved(masked, len(chat_models(models)))
        allowed = [model for model in chat_models(models) if chosen.allows_model(model)]
        fitted = await self._fit_model(member, chosen, allowed)
        return Reply(f"{saved}\n{fitted}" if fitted else saved)

    async def _fit_model(self, member: Member, provider: Provider, usable: list[str]) -> str | None:
        """When the new key cannot use the model the member's turns would use (at the key's
        own provider), pick one it can and say so; None when nothing changed."""
        if not usable:
            # A provider that lists no chat models says nothing about what the key can use.
            return None
        try:
            # One read, as a turn makes it: the member's pick and their workspace's default.
            here = await self._store.turn_context(member, server=member.workspace)
            chosen = here.model
            workspace_default = here.config.default_model if member.workspace else None
            default = workspace_default or self._default_model
            wanted = chosen or default
            if self._usable_here(wanted, provider, usable) is not False:
                # Usable, or a model of another provider: this key does not decide it.
                return None
            if chosen is not None and self._usable_here(default, provider, usable):
                # The member's pick does not suit the new key, the default does.
                await self._store.set_model(member, None)
                return texts.model_fallback(wanted, default)
            fallback = self._providers.qualified(provider, fallback_model(usable))
            await self._store.set_model(member, fallback)
        except StoreError:
            # The key is saved; the model is the one thing left as it was.
            log.error("model of %s not fitted to the new key", member, exc_info=True)
            return None
        log.info("model of %s fitted to the new key", member)
        return texts.model_fallback(wanted, fallback)

    def _usable_here(self, model: str, provider: Provider, usable: list[str]) -> bool | None:
        """Whether a key of `provider` listing `usable` can run `model`; None when `model` is
        not one of that provider's (another provider's key decides it)."""
        choice = self._providers.split_model(model)
        if isinstance(choice, ModelRefusal) or choice.provider.id != provider.id:
            return None
        return choice.model in usable

    async def remove_key(self, member: Member, provider: str | None = None) -> Reply:
        """The key for `provider`; without one, the member's only key (or ask which)."""
        if provider is not None:
            chosen = self._providers.get(provider)
            if chosen is None:
                return Reply(texts.unknown_provider(self._providers.ids), Severity.REFUSED)
        else:
            stored = await self._store.member_keys(member)
            if len(stored) > 1:
                return Reply(
                    texts.which_key_to_remove([key.provider for key in stored]), Severity.REFUSED
                )
            if not stored:
                return Reply(texts.NO_KEY_TO_REMOVE)
            # A key of a provider the operator no longer lists can still be removed.
            chosen = self._providers.get(stored[0].provider) or Provider(
                id=stored[0].provider, name=stored[0].provider, base_url=""
            )
        try:
            deleted = await self._store.delete_key(member, chosen.id)
        except StoreError:
            log.error("key of %s not removed", member, exc_info=True)
            return Reply(texts.KEY_NOT_REMOVED, Severity.ERROR)
        several = self._providers.several
        if deleted:
            await self._audit.record(member, AuditEvent.KEY_REMOVED)
            log.info("key removed for %s at %s", member, chosen.id)
            return Reply(texts.key_removed_for(chosen) if several else texts.KEY_REMOVED)
        return Reply(texts.no_key_for(chosen) if several else texts.NO_KEY_TO_REMOVE)

    async def model_for(self, member: Member, workspace_default: str | None = None) -> str:
        return self.model_of(await self._store.get_model(member), workspace_default)

    def model_of(self, chosen: str | None, workspace_default: str | None) -> str:
        """The member's own choice, else the workspace's default, else the operator's."""
        return chosen or workspace_default or self._default_model

    def resolve(self, model: str) -> ModelChoice | ModelRefusal:
        """Which listed provider answers `model`; refused (before any request) when the name
        points anywhere else or the operator does not allow that model."""
        choice = self._providers.split_model(model)
        if isinstance(choice, ModelChoice) and not choice.provider.allows_model(choice.model):
            return ModelRefusal(texts.model_not_allowed(model))
        return choice

    async def key_info(self, member: Member) -> KeyInfo | None:
        """The key of the provider of the member's model, else their first key."""
        keys = await self._store.member_keys(member)
        if not keys:
            return None
        model = await self.model_for(member)
        choice = self.resolve(model)
        wanted = choice.provider.id if isinstance(choice, ModelChoice) else None
        stored = next((key for key in keys if key.provider == wanted), keys[0])
        return KeyInfo(
            masked=stored.masked,
            status=stored.status,
            set_at=stored.set_at,
            validated_at=stored.validated_at,
            last_used_at=stored.last_used_at,
            model=model,
            provider=stored.provider,
        )

    async def my_key(self, member: Member) -> Reply:
        keys = await self._store.member_keys(member)
        if not keys:
            return Reply(self.how_to_set_key())
        several = self._providers.several or len(keys) > 1
        lines: list[str] = []
        for stored in keys:
            provider = self._providers.get(stored.provider)
            name = provider.name if provider is not None else f"{stored.provider} (not listed)"
            status = (
                "working" if stored.status == "valid" else "rejected by the provider; run `/setkey`"
            )
            head = f"Your {name} key" if several else "Your key"
            lines += [
                f"{head}: `{stored.masked}` ({status})",
                f"Set: {_when(stored.set_at)}",
                f"Last checked: {_when(stored.validated_at)}",
                f"Last used: {_when(stored.last_used_at)}",
            ]
        events = await self._store.audit_events(member=member, limit=RECENT_EVENTS_SHOWN)
        lines += [
            f"Model: `{await self.model_for(member)}`",
            "Recent events:",
            *(f"  • {_when(e.at)} {e.event.replace('_', ' ')} ({e.outcome})" for e in events),
        ]
        return Reply("\n".join(lines))

    async def open_key(
        self, member: Member, provider: str = "openai"
    ) -> tuple[StoredKey, str] | None:
        """The stored row for that provider and its plaintext, just before a call; never
        cached. A key sealed for another provider (or member) does not open: VaultError."""
        stored = await self._store.get_key(member, provider)
        if stored is None:
            return None
        return stored, self.unseal(stored)

    def unseal(self, stored: StoredKey) -> str:
        """The plaintext of a row already read, for its owner's call at the provider its row
        names; never cached. A key sealed for another member or provider fails: VaultError."""
        return self._vault.open(stored.member, stored.sealed, provider=stored.provider)

    async def _models_at(self, provider: Provider, api_key: str) -> list[str]:
        models = chat_models(await self.gateway(provider).list_models(api_key))
        return [model for model in models if provider.allows_model(model)]

    async def available_models(self, member: Member) -> list[str]:
        """The chat models the member's own keys can list, named as /model takes them, for
        autocomplete; a provider that cannot be asked right now lists nothing."""
        names: list[str] = []
        try:
            keys = await self._store.member_keys(member)
        except StoreError:
            return []
        for stored in keys:
            provider = self._providers.get(stored.provider)
            if provider is None:
                continue
            try:
                api_key = self._vault.open(member, stored.sealed, provider=provider.id)
                models = await self._models_at(provider, api_key)
            except (ProviderError, VaultError):
                continue
            names += [self._providers.shown(provider, model) for model in models]
        return names

    async def choose_model(self, member: Member, model: str | None) -> Reply:
        if model is not None and contains_key(model):
            # Never repeat it: the member typed a key where a model name goes.
            return Reply(texts.MODEL_IS_A_KEY, Severity.REFUSED)
        if model in ("default", "reset"):
            await self._store.set_model(member, None)
            return Reply(texts.MODEL_RESET)
        if model is None:
            return await self._list_models(member)
        # Before any request: a name aiming at an unlisted provider or a URL goes nowhere.
        choice = self.resolve(model)
        if isinstance(choice, ModelRefusal):
            return Reply(texts.model_refused(choice.reason), Severity.REFUSED)
        models = await self._checked_models(member, choice.provider)
        if isinstance(models, Reply):
            return models
        if choice.model not in models:
            return Reply(texts.model_unknown(model), Severity.REFUSED)
        name = self._providers.qualified(choice.provider, choice.model)
        await self._store.set_model(member, name)
        return Reply(texts.model_chosen(name))

    async def _checked_models(self, member: Member, provider: Provider) -> list[str] | Reply:
        """The chat models the member's key for `provider` can use, asked with that key at
        that provider; or what to tell the member instead."""
        try:
            opened = await self.open_key(member, provider.id)
        except VaultError:
            return Reply(texts.UNREADABLE_KEY, Severity.ERROR)
        if opened is None:
            return Reply(
                texts.how_to_set_key(provider, several=self._providers.several), Severity.REFUSED
            )
        stored, api_key = opened
        try:
            models = await self._models_at(provider, api_key)
        except ProviderError as error:
            if error.kind is FailureKind.UNAUTHORIZED and not await self.key_rejected(
                member, stored.key_id
            ):
                return Reply(texts.STALE_KEY_REJECTED, Severity.ERROR)
            return Reply(
                texts.provider_failure(
                    error.kind, retry_after=error.retry_after, provider=provider
                ),
                Severity.ERROR,
            )
        if await self._store.mark_key_validated(member, stored.key_id, self._clock()):
            await self._audit.record(member, AuditEvent.KEY_VALIDATED)
        return models

    async def _list_models(self, member: Member) -> Reply:
        current = await self.model_for(member)
        if not self._providers.several:
            models = await self._checked_models(member, self._providers.default)
            if isinstance(models, Reply):
                return models
            return Reply(texts.models_list(models, current))
        held = {key.provider for key in await self._store.member_keys(member)}
        listed = [provider for provider in self._providers if provider.id in held]
        if not listed:
            return Reply(self.how_to_set_key(), Severity.REFUSED)
        names: list[str] = []
        notes: list[str] = []
        for provider in listed:
            models = await self._checked_models(member, provider)
            if isinstance(models, Reply):
                notes.append(f"{provider.name}: {models.text}")
                continue
            names += [self._providers.shown(provider, model) for model in models]
        choice = self.resolve(current)
        shown = (
            self._providers.shown(choice.provider, choice.model)
            if isinstance(choice, ModelChoice)
            else current
        )
        return Reply("\n".join([texts.models_list(names, shown), *notes]))

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
