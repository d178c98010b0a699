"""Wiring: settings in, the core's services out, in one place."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from app.metrics import PrometheusMetrics
from app.settings import Settings
from bot.attachments import AttachmentLimits
from bot.audit import AuditTrail
from bot.commands import MemberCommands
from bot.conversation import Conversation
from bot.core import ByokCore
from bot.intake import KeyIntakeLimits
from bot.keys import learn_key_patterns
from bot.limits import MemberLimits
from bot.openai_gateway import OpenAIGateway
from bot.ports import Metrics, ProviderGateway, Store
from bot.pricing import PriceTable
from bot.spending import SpendingCommands
from bot.turns import TurnsInFlight
from bot.usage import UsageLedger
from bot.vault import KeyVault
from storage import open_store


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    vault: KeyVault
    # One per listed provider, by provider id.
    gateways: Mapping[str, ProviderGateway]
    commands: MemberCommands
    core: ByokCore
    ledger: UsageLedger
    metrics: PrometheusMetrics

    async def close(self) -> None:
        try:
            await self.ledger.close()
        finally:
            try:
                for gateway in self.gateways.values():
                    await gateway.close()
            finally:
                await self.store.close()


def build_core(
    *,
    settings: Settings,
    store: Store,
    vault: KeyVault,
    gateways: Mapping[str, ProviderGateway],
    ledger: UsageLedger,
    metrics: Metrics | None = None,
) -> tuple[MemberCommands, ByokCore]:
    audit = AuditTrail(store=store)
    turns = TurnsInFlight()
    commands = MemberCommands(
        store=store,
        vault=vault,
        providers=settings.providers,
        gateways=gateways,
        audit=audit,
        spending=SpendingCommands(store=store, ledger=ledger),
        ledger=ledger,
        turns=turns,
        intake=KeyIntakeLimits(
            attempts=store,
            per_member=settings.limits.key_tries_per_member,
            per_workspace=settings.limits.key_tries_per_workspace,
        ),
        default_model=settings.provider.default_model,
    )
    conversation = Conversation(
        store=store,
        commands=commands,
        max_context_tokens=settings.limits.max_context_tokens,
        max_output_tokens=settings.limits.max_output_tokens,
        limits=MemberLimits(
            store=store,
            ledger=ledger,
            max_concurrent=settings.limits.max_concurrent_per_member,
            per_minute=settings.limits.requests_per_minute,
            lease_for=timedelta(seconds=settings.limits.turn_lease_seconds),
        ),
        ledger=ledger,
        turns=turns,
        streaming=settings.provider.streaming,
        system_prompt=settings.provider.system_prompt,
        attachments=AttachmentLimits(
            max_image_bytes=settings.limits.max_image_bytes,
            max_images=settings.limits.max_images,
            max_file_bytes=settings.limits.max_file_bytes,
        ),
        metrics=metrics,
    )
    core = ByokCore(
        store=store,
        commands=commands,
        conversation=conversation,
        audit=audit,
        ledger=ledger,
        turns=turns,
    )
    return commands, core


def open_gateways(settings: Settings) -> dict[str, ProviderGateway]:
    """One gateway per listed provider. The base URLs come from the operator's list only:
    nothing a member types can add a host the bot talks to."""
    return {
        provider.id: OpenAIGateway(
            base_url=provider.base_url,
            timeout=settings.provider.request_timeout,
            headers=provider.headers,
            query=provider.query,
        )
        for provider in settings.providers
    }


async def open_services(
    settings: Settings, *, master_keys_source: Callable[[], Sequence[str]] | None = None
) -> Services:
    """Open the store and check the master keys against it before anything is served.

    `master_keys_source` reads the master keys again while running, so a rotation done by
    another process is picked up (see KeyVault). Raises MasterKeyError when the keys are
    missing or cannot open the stored rows.
    """
    vault = KeyVault(master_keys=settings.vault.master_keys, reload=master_keys_source)
    store = await open_store(settings.storage)
    try:
        vault.check_fingerprints(await store.master_key_fingerprints())
    except BaseException:
        await store.close()
        raise
    # The leak guard and the log filter know every listed provider's keys from now on.
    learn_key_patterns(p.key_pattern for p in settings.providers if p.key_pattern is not None)
    gateways = open_gateways(settings)
    # OpenAI's bundled prices, and each listed provider's own where the operator gave them.
    prices = PriceTable.bundled().with_providers(settings.providers)
    ledger = UsageLedger(store=store, prices=prices)
    ledger.start()
    metrics = PrometheusMetrics(
        keys_stored=store.count_keys, ledger_depth=lambda: ledger.unwritten_rows
    )
    commands, core = build_core(
        settings=settings,
        store=store,
        vault=vault,
        gateways=gateways,
        ledger=ledger,
        metrics=metrics,
    )
    return Services(
        settings=settings,
        store=store,
        vault=vault,
        gateways=gateways,
        commands=commands,
        core=core,
        ledger=ledger,
        metrics=metrics,
    )
