"""Which adapters `byok-bot run` starts: every platform whose tokens are set, the console
when none are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.console import ConsoleAdapter
from app.services import Services
from app.supervisor import AdapterSpec
from bot.ports import Adapter

if TYPE_CHECKING:
    # Only a type: the console starts without importing slack_bolt.
    from adapters.slack import EventsEndpoint


def adapter_specs(
    services: Services, *, console_only: bool = False, endpoint: EventsEndpoint | None = None
) -> list[AdapterSpec]:
    """`endpoint`: the process's HTTP server, which serves Slack's events in HTTP mode."""
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
                    core=services.core,
                    settings=settings.slack,
                    once=services.store,
                    installs=services.store,
                    vault=services.vault,
                    endpoint=endpoint,
                ),
            )
        )
    if settings.serves_console(console_only=console_only):
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
