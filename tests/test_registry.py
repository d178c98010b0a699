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


async def test_slack_when_its_token_is_set(services: Services) -> None:
    from pydantic import SecretStr

    configured = _with(
        services,
        slack_bot_token=SecretStr("xoxb-made-up"),
        slack_signing_secret=SecretStr("made-up-secret"),
        discord_bot_token=SecretStr("made-up-token"),
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

    from bot.adapter import AdapterConfigError

    with pytest.raises(AdapterConfigError, match="SLACK_SIGNING_SECRET"):
        build_adapters(_with(services, slack_bot_token=SecretStr("xoxb-made-up")))


async def test_an_adapter_refusing_to_start_is_one_config_error() -> None:
    import pytest

    from adapters.registry import run_adapters
    from bot.adapter import AdapterConfigError

    class Refused:
        name = "refused"
        closed = False

        async def run(self) -> None:
            raise AdapterConfigError("SLACK_BOT_TOKEN: Slack refused it (invalid_auth)")

        async def close(self) -> None:
            self.closed = True

    adapter = Refused()
    with pytest.raises(AdapterConfigError, match="invalid_auth"):
        await run_adapters([adapter])
    assert adapter.closed
