"""Wiring: settings in, the core's services out, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from bot.audit import AuditTrail
from bot.commands import MemberCommands
from bot.conversation import Conversation
from bot.core import ByokCore
from bot.limits import MemberLimits
from bot.pricing import PriceTable
from bot.provider import OpenAIGateway, ProviderGateway
from bot.settings import Settings
from bot.spending import SpendingCommands
from bot.usage import UsageLedger
from bot.vault import KeyVault
from storage import Store, open_store


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    vault: KeyVault
    gateway: ProviderGateway
    commands: MemberCommands
    core: ByokCore
    ledger: UsageLedger

    async def close(self) -> None:
        try:
            await self.ledger.close()
        finally:
            try:
                await self.gateway.close()
            finally:
                await self.store.close()


def build_core(
    *,
    settings: Settings,
    store: Store,
    vault: KeyVault,
    gateway: ProviderGateway,
    ledger: UsageLedger,
) -> tuple[MemberCommands, ByokCore]:
    audit = AuditTrail(store=store)
    commands = MemberCommands(
        store=store,
        vault=vault,
        gateway=gateway,
        audit=audit,
        spending=SpendingCommands(store=store, ledger=ledger),
        ledger=ledger,
        default_model=settings.byok_default_model,
    )
    conversation = Conversation(
        store=store,
        commands=commands,
        gateway=gateway,
        max_context_tokens=settings.byok_max_context_tokens,
        max_output_tokens=settings.byok_max_output_tokens,
        limits=MemberLimits(
            store=store,
            ledger=ledger,
            max_concurrent=settings.byok_max_concurrent_per_member,
            per_minute=settings.byok_requests_per_minute,
        ),
        ledger=ledger,
        streaming=settings.byok_streaming,
    )
    core = ByokCore(
        store=store, commands=commands, conversation=conversation, audit=audit, ledger=ledger
    )
    return commands, core


async def open_services(settings: Settings) -> Services:
    """Open the store and check the master keys against it before anything is served.

    Raises MasterKeyError when the keys are missing or cannot open the stored rows.
    """
    vault = KeyVault(master_keys=settings.master_keys)
    store = await open_store(settings.database_url)
    try:
        vault.check_fingerprints(await store.master_key_fingerprints())
    except BaseException:
        await store.close()
        raise
    gateway = OpenAIGateway(
        base_url=settings.openai_base_url, timeout=settings.byok_request_timeout
    )
    ledger = UsageLedger(store=store, prices=PriceTable.bundled())
    ledger.start()
    commands, core = build_core(
        settings=settings, store=store, vault=vault, gateway=gateway, ledger=ledger
    )
    return Services(
        settings=settings,
        store=store,
        vault=vault,
        gateway=gateway,
        commands=commands,
        core=core,
        ledger=ledger,
    )
