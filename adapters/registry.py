"""Which adapters `byok-bot run` starts, and running them side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from adapters.console import ConsoleAdapter
from bot.adapter import Adapter
from bot.services import Services


def build_adapters(services: Services, *, console_only: bool = False) -> list[Adapter]:
    """Every adapter whose tokens are configured; the console when none are."""
    adapters: list[Adapter] = []
    settings = services.settings
    if not console_only and settings.discord_enabled:
        from adapters.discord import create_discord_adapter

        adapters.append(create_discord_adapter(services))
    if not adapters:
        adapters.append(ConsoleAdapter(core=services.core, commands=services.commands))
    return adapters


async def run_adapters(adapters: Sequence[Adapter]) -> None:
    """Run until every adapter ends; one failing stops the others and re-raises."""
    try:
        async with asyncio.TaskGroup() as group:
            for adapter in adapters:
                group.create_task(adapter.run(), name=f"adapter:{adapter.name}")
    finally:
        for adapter in adapters:
            await adapter.close()
