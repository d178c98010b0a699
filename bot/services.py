"""Wiring: settings in, the core's services out, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import MemberCommands
from bot.conversation import Conversation
from bot.core import ByokCore
from bot.provider import OpenAIGateway, ProviderGateway
from bot.settings import Settings
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

    async def close(self) -> None:
        await self.gateway.close()
        await self.store.close()


def build_core(
    *, settings: Settings, store: Store, vault: KeyVault, gateway: ProviderGateway
) -> tuple[MemberCommands, ByokCore]:
    commands = MemberCommands(
        store=store, vault=vault, gateway=gateway, default_model=settings.byok_default_model
    )
    conversation = Conversation(
        store=store,
        commands=commands,
        gateway=gateway,
        max_context_tokens=settings.byok_max_context_tokens,
        max_output_tokens=settings.byok_max_output_tokens,
    )
    return commands, ByokCore(store=store, commands=commands, conversation=conversation)


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
    commands, core = build_core(settings=settings, store=store, vault=vault, gateway=gateway)
    return Services(
        settings=settings, store=store, vault=vault, gateway=gateway, commands=commands, core=core
    )
