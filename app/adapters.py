"""Which adapters `byok-bot run` starts: every platform whose tokens are set, the console
when none are."""

from __future__ import annotations

from adapters.console import ConsoleAdapter
from app.services import Services
from app.supervisor import AdapterSpec
from bot.ports import Adapter


def adapter_specs(services: Services, *, console_only: bool = False) -> list[AdapterSpec]:
    specs: list[AdapterSpec] = []
    settings = services.settings
    if not console_only and settings.discord.enabled:
        from adapters.discord import create_discord_adapter

        specs.append(
            AdapterSpec(
                "discord",
                lambda: create_discord_adapter(core=services.core, settings=settings.discord),
            )
        )
    if not console_only and settings.slack.enabled:
        from adapters.slack import create_slack_adapter

        specs.append(
            AdapterSpec(
                "slack",
                lambda: create_slack_adapter(
                    core=services.core, settings=settings.slack, once=services.store
                ),
            )
        )
    if not specs:
        specs.append(
            AdapterSpec(
                "console",
                lambda: ConsoleAdapter(core=services.core, commands=services.commands),
                reconnects=False,
            )
        )
    return specs


def build_adapters(services: Services, *, console_only: bool = False) -> list[Adapter]:
    """One of each, built now (a bad setting raises AdapterConfigError)."""
    return [spec.build() for spec in adapter_specs(services, console_only=console_only)]
