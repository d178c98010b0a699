"""`byok-bot run` starts the adapters whose tokens are configured, the console otherwise."""

from __future__ import annotations

from dataclasses import replace

from adapters.console import ConsoleAdapter
from adapters.registry import build_adapters
from bot.services import Services


def _with(services: Services, **settings: object) -> Services:
    return replace(services, settings=services.settings.model_copy(update=settings))


async def test_console_when_no_platform_is_configured(services: Services) -> None:
    adapters = build_adapters(services)
    assert [type(a) for a in adapters] == [ConsoleAdapter]


async def test_discord_when_its_token_is_set(services: Services) -> None:
    from pydantic import SecretStr

    configured = _with(services, discord_bot_token=SecretStr("made-up-token"))
    adapters = build_adapters(configured)
    try:
        assert [a.name for a in adapters] == ["discord"]
        assert [a.name for a in build_adapters(configured, console_only=True)] == ["console"]
    finally:
        for adapter in adapters:
            await adapter.close()
