"""Start-up settings, Socket Mode, workspaces (Enterprise Grid, uninstall) and the manifest."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.slack import create_slack_adapter
from adapters.slack.ask import SUMMARIZE_CALLBACK
from adapters.slack.commands import SLASH_COMMANDS
from adapters.slack.events import BOT_EVENTS
from app.services import Services
from bot.domain import Member, WorkspaceConfig
from bot.ports import AdapterConfigError
from tests.fakes.core import make_key, with_key
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import BOT_USER, TEAM
from tests.slack.conftest import APP_TOKEN, AdapterFactory, slack_settings
from tests.slack.requests import CHANNEL, SlackSender, mention

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"


def test_http_mode_without_a_signing_secret_is_a_one_line_config_error(
    services: Services, fake_slack: FakeSlack
) -> None:
    without_secret = slack_settings(services, fake_slack, signing_secret=None)
    with pytest.raises(AdapterConfigError) as error:
        create_slack_adapter(core=services.core, settings=without_secret, once=services.store)
    message = str(error.value)
    assert message.startswith("SLACK_SIGNING_SECRET: required in HTTP mode (")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("setting", "value", "variable"),
    [
        ("bot_token", "xapp-wrong", "SLACK_BOT_TOKEN"),
        ("app_token", "xoxb-wrong", "SLACK_APP_TOKEN"),
    ],
)
def test_a_token_of_the_wrong_kind_is_named(
    services: Services, fake_slack: FakeSlack, setting: str, value: str, variable: str
) -> None:
    wrong = slack_settings(services, fake_slack, **{setting: SecretStr(value)})
    with pytest.raises(AdapterConfigError, match=f"^{variable}: ") as error:
        create_slack_adapter(core=services.core, settings=wrong, once=services.store)
    assert value not in str(error.value)


@pytest.mark.parametrize(
    ("method", "variable", "overrides"),
    [
        ("auth.test", "SLACK_BOT_TOKEN", {}),
        (
            "apps.connections.open",
            "SLACK_APP_TOKEN",
            {"app_token": SecretStr(APP_TOKEN), "signing_secret": None},
        ),
    ],
)
async def test_a_token_slack_refuses_stops_the_start(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    method: str,
    variable: str,
    overrides: dict[str, object],
) -> None:
    fake_slack.errors[method] = "invalid_auth"
    with pytest.raises(AdapterConfigError) as error:
        await make_adapter(settings=overrides)
    assert str(error.value) == f"{variable}: Slack refused it (invalid_auth)"


async def test_socket_mode_answers_through_the_websocket(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    slack = await make_adapter(settings={"app_token": SecretStr(APP_TOKEN), "signing_secret": None})
    assert slack.mode == "socket"
    opened = fake_slack.calls_to("apps.connections.open")
    assert opened and all(call.authorization == f"Bearer {APP_TOKEN}" for call in opened)
    key = await with_key(services, fake_openai, Member("slack", TEAM, "UALICE"))
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> over the socket")
    body = SlackSender("unused").event_body(mention("UALICE", "over the socket", ts))
    envelope = await fake_slack.send_envelope(body)
    await fake_slack.wait_for(lambda: envelope in fake_slack.acks)
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.stopStream")))
    await slack.wait_idle()
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {key}"]
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == "You asked: over the socket"


async def test_enterprise_grid_keys_belong_to_the_enterprise(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    slack = await make_adapter()
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events", enterprise="E0001")
    key = make_key()
    fake_openai.behaviours[key] = "valid"
    assert (await sender.submit_key("UALICE", key)).json()["response_action"] == "update"
    await slack.wait_idle()
    assert await services.store.get_key(Member("slack", "E0001", "UALICE")) is not None
    assert await services.store.get_key(Member("slack", TEAM, "UALICE")) is None
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> grid")
    await sender.event(mention("UALICE", "grid", ts))
    await slack.wait_idle()
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {key}"]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [BOT_USER]}},
    ],
)
async def test_uninstall_wipes_that_workspace_only(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
    event: dict[str, object],
) -> None:
    slack = await make_adapter()
    here = Member("slack", TEAM, "UALICE")
    elsewhere = Member("slack", "T0002", "UALICE")
    await with_key(services, fake_openai, here)
    await with_key(services, fake_openai, elsewhere)
    await services.store.save_workspace_config(
        WorkspaceConfig("slack", TEAM, allowed_channels=frozenset({CHANNEL}))
    )
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
    assert (await sender.event(event)).status == 200
    await slack.wait_idle()
    assert await services.store.get_key(here) is None
    assert await services.store.get_key(elsewhere) is not None
    assert await services.store.get_workspace_config("slack", TEAM) == WorkspaceConfig(
        "slack", TEAM
    )


def _manifest_list(section: str) -> list[str]:
    """The `- item` lines right under `section:` in the manifest (no YAML parser needed)."""
    lines = MANIFEST.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{section}:")
    items = []
    for line in lines[start + 1 :]:
        match = re.match(r"^\s*- (\S+)\s*(#.*)?$", line)
        if match is None:
            break
        items.append(match.group(1))
    return items


def test_manifest_names_exactly_what_the_adapter_uses() -> None:
    text = MANIFEST.read_text()
    commands = re.findall(r"^\s*- command: (\S+)\s*$", text, re.MULTILINE)
    assert sorted(commands) == sorted(SLASH_COMMANDS)
    assert sorted(_manifest_list("bot_events")) == sorted(BOT_EVENTS)
    assert sorted(_manifest_list("bot")) == sorted(
        [
            "app_mentions:read",
            "assistant:write",
            "channels:history",
            "chat:write",
            "commands",
            "files:read",
            "groups:history",
            "im:history",
            "im:write",
            "users:read",
        ]
    )
    shortcuts = re.findall(r"^\s*callback_id: (\S+)\s*$", text, re.MULTILINE)
    assert shortcuts == [SUMMARIZE_CALLBACK]
    assert "home_tab_enabled: true" in text
    assert "interactivity:" in text and "is_enabled: true" in text


async def test_run_serves_until_close(services: Services, fake_slack: FakeSlack) -> None:
    adapter = create_slack_adapter(
        core=services.core,
        settings=slack_settings(services, fake_slack),
        once=services.store,
        host="127.0.0.1",
        port=0,
    )
    running = asyncio.create_task(adapter.run())
    await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("auth.test")))
    await adapter.close()
    await asyncio.wait_for(running, timeout=10)
    assert adapter.name == "slack" and adapter.mode == "http"


async def test_revoking_only_user_tokens_keeps_the_workspace(
    make_adapter: AdapterFactory, fake_openai: FakeOpenAI, services: Services
) -> None:
    slack = await make_adapter()
    here = Member("slack", TEAM, "UALICE")
    await with_key(services, fake_openai, here)
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["UALICE"], "bot": []}}
    assert (await sender.event(event)).status == 200
    await slack.wait_idle()
    assert await services.store.get_key(here) is not None


async def test_one_grid_workspace_leaving_keeps_the_orgs_keys(
    make_adapter: AdapterFactory, fake_openai: FakeOpenAI, services: Services
) -> None:
    slack = await make_adapter()
    org_member = Member("slack", "E0001", "UALICE")
    await with_key(services, fake_openai, org_member)
    for team in (TEAM, "T0002"):
        config = WorkspaceConfig("slack", team, default_model="gpt-4o")
        await services.store.save_workspace_config(config)
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events", enterprise="E0001")
    assert (await sender.event({"type": "app_uninstalled"})).status == 200
    await slack.wait_idle()
    assert await services.store.get_key(org_member) is not None
    # The workspace that left takes its own settings with it; the org's other stays.
    assert await services.store.get_workspace_config("slack", TEAM) == WorkspaceConfig(
        "slack", TEAM
    )
    assert (await services.store.get_workspace_config("slack", "T0002")).default_model
