"""Which adapters `byok-bot run` starts, and running them side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from adapters.console import ConsoleAdapter
from app.services import Services
from bot.ports import Adapter, AdapterConfigError


def build_adapters(services: Services, *, console_only: bool = False) -> list[Adapter]:
    """Every adapter whose tokens are configured; the console when none are."""
    adapters: list[Adapter] = []
    settings = services.settings
    if not console_only and settings.discord.enabled:
        from adapters.discord import create_discord_adapter

        adapters.append(create_discord_adapter(core=services.core, settings=settings.discord))
    if not console_only and settings.slack.enabled:
        from adapters.slack import create_slack_adapter

        adapters.append(create_slack_adapter(core=services.core, settings=settings.slack))
    if not adapters:
        adapters.append(ConsoleAdapter(core=services.core, commands=services.commands))
    return adapters


async def run_adapters(adapters: Sequence[Adapter]) -> None:
    """Run until every adapter ends; one failing stops the others and re-raises."""
    try:
        async with asyncio.TaskGroup() as group:
            for adapter in adapters:
                group.create_task(adapter.run(), name=f"adapter:{adapter.name}")
    except BaseExceptionGroup as failures:
        # A refused token is an operator's setting, reported as one line like any other.
        config_errors = failures.subgroup(AdapterConfigError)
        if config_errors is not None:
            raise _first_leaf(config_errors) from None
        raise
    finally:
        for adapter in adapters:
            await adapter.close()


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
