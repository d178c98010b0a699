"""`byok-bot run` starts the adapters whose tokens are configured, the console otherwise."""

from __future__ import annotations

from dataclasses import replace

from adapters.console import ConsoleAdapter
from app.adapters import build_adapters
from app.services import Services
from tests.fakes.core import with_variables


def _with(services: Services, **variables: object) -> Services:
    return replace(services, settings=with_variables(services.settings, variables))


async def test_console_when_no_platform_is_configured(services: Services) -> None:
    adapters = build_adapters(services)
    assert [type(a) for a in adapters] == [ConsoleAdapter]


async def test_discord_when_its_token_is_set(services: Services) -> None:
    from pydantic import SecretStr

    configured = _with(services, DISCORD_BOT_TOKEN=SecretStr("made-up-token"))
    adapters = build_adapters(configured)
    try:
        assert [a.name for a in adapters] == ["discord"]
        assert [a.name for a in build_adapters(configured, console_only=True)] == ["console"]
    finally:
        for adapter in adapters:
            await adapter.close()


async def test_slack_when_its_token_is_set(services: Services) -> None:
    from pydantic import SecretStr

    configured = _with(
        services,
        SLACK_BOT_TOKEN=SecretStr("xoxb-made-up"),
        SLACK_SIGNING_SECRET=SecretStr("made-up-secret"),
        DISCORD_BOT_TOKEN=SecretStr("made-up-token"),
    )
    adapters = build_adapters(configured)
    try:
        assert sorted(a.name for a in adapters) == ["discord", "slack"]
    finally:
        for adapter in adapters:
            await adapter.close()


async def test_slack_http_mode_without_a_signing_secret_is_a_config_error(
    services: Services,
) -> None:
    import pytest
    from pydantic import SecretStr

    from bot.ports import AdapterConfigError

    with pytest.raises(AdapterConfigError, match="SLACK_SIGNING_SECRET"):
        build_adapters(_with(services, SLACK_BOT_TOKEN=SecretStr("xoxb-made-up")))
