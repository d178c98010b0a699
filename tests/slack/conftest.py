from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.slack import SlackAdapter, create_slack_adapter
from adapters.slack.settings import SlackSettings
from app.services import Services
from tests.fakes.slack import FakeSlack
from tests.slack.requests import SIGNING_SECRET, SlackSender

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"


def slack_settings(services: Services, fake: FakeSlack, **settings: Any) -> SlackSettings:
    """The Slack group pointed at the fake; `settings` are SlackSettings fields."""
    values: dict[str, Any] = {
        "bot_token": SecretStr(BOT_TOKEN),
        "signing_secret": SecretStr(SIGNING_SECRET),
        "api_url": fake.api_url,
        **settings,
    }
    return services.settings.slack.model_copy(update=values)


def oauth_settings(services: Services, fake: FakeSlack, **settings: Any) -> SlackSettings:
    """The Slack group in OAuth mode, pointed at the fake; `settings` are SlackSettings fields."""
    values: dict[str, Any] = {
        "bot_token": None,
        "client_id": SecretStr(fake.client_id),
        "client_secret": SecretStr(fake.client_secret),
        "signing_secret": SecretStr(SIGNING_SECRET),
        "api_url": fake.api_url,
        **settings,
    }
    return services.settings.slack.model_copy(update=values)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


AdapterFactory = Callable[..., Awaitable[SlackAdapter]]


@pytest.fixture
async def make_adapter(services: Services, fake_slack: FakeSlack) -> AsyncIterator[AdapterFactory]:
    started: list[SlackAdapter] = []

    async def make(**options: Any) -> SlackAdapter:
        settings = options.pop("settings", {})
        adapter = create_slack_adapter(
            core=services.core,
            settings=slack_settings(services, fake_slack, **settings),
            once=services.store,
            host="127.0.0.1",
            port=0,
            **{"min_update_interval": 0.0, **options},
        )
        started.append(adapter)
        await adapter.start()
        return adapter

    yield make
    for adapter in started:
        await adapter.close()


@pytest.fixture
async def slack(make_adapter: AdapterFactory) -> SlackAdapter:
    return await make_adapter()


@pytest.fixture
def sender(slack: SlackAdapter) -> SlackSender:
    return SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
