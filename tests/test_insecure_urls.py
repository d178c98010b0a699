"""Keys and tokens never travel unencrypted to another machine unless the operator says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings
from bot.vault import generate_master_key
from tests.fakes.cli import run_cli

REMOTE_HTTP = [
    "http://api.example.com/v1",
    "http://10.0.0.5:8080/v1",
    "http://[2001:db8::1]/v1",
    "http://127.0.0.1.example.com/v1",
    "http://localhost.example.com/v1",
    "http://127.0.0.1@example.com/v1",
    "http://[::1/v1",
]
LOOPBACK_HTTP = [
    "http://127.0.0.1:8080/v1",
    "http://127.1.2.3/v1",
    "http://[::1]:8080/v1",
    "http://localhost:8080/v1",
    "http://LOCALHOST./v1",
]


def problems_for(**variables: str) -> list[str]:
    try:
        load_settings(None, variables)
    except SettingsError as error:
        return error.problems
    return []


@pytest.mark.parametrize("url", REMOTE_HTTP)
@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "SLACK_API_URL"])
def test_remote_http_is_refused_naming_the_variable(variable: str, url: str) -> None:
    (problem,) = problems_for(**{variable: url})
    assert problem.startswith(f"{variable}: ")
    assert "BYOK_ALLOW_INSECURE_URLS=true" in problem
    assert url not in problem  # a URL may carry credentials in its user part


@pytest.mark.parametrize("url", [*LOOPBACK_HTTP, "https://api.example.com/v1"])
@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "SLACK_API_URL"])
def test_loopback_http_and_any_https_are_allowed(variable: str, url: str) -> None:
    assert problems_for(**{variable: url}) == []


def test_both_are_reported_at_once_with_other_problems() -> None:
    problems = problems_for(
        OPENAI_BASE_URL="http://api.example.com/v1",
        SLACK_API_URL="http://slack.example.com/api/",
        DISCORD_DEV_GUILD_ID="my-server",
    )
    named = sorted(problem.split(":", 1)[0] for problem in problems)
    assert named == ["DISCORD_DEV_GUILD_ID", "OPENAI_BASE_URL", "SLACK_API_URL"]


def test_the_operator_can_allow_a_trusted_network() -> None:
    settings = load_settings(
        None,
        {
            "OPENAI_BASE_URL": "http://llm.internal:8000/v1",
            "SLACK_API_URL": "http://slack-gateway.internal/api/",
            "BYOK_ALLOW_INSECURE_URLS": "true",
        },
    )
    assert settings.provider.base_url == "http://llm.internal:8000/v1"
    assert settings.network.allow_insecure_urls


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "SLACK_API_URL"])
async def test_byok_bot_stops_in_one_line(tmp_path: Path, variable: str) -> None:
    environment = {"BYOK_MASTER_KEYS": generate_master_key(), variable: "http://example.com/v1"}
    code, _, err = await run_cli("console", cwd=tmp_path, env=environment)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"byok-bot: {variable}: "), err

    allowed = {**environment, "BYOK_ALLOW_INSECURE_URLS": "true"}
    code, out, err = await run_cli("console", cwd=tmp_path, env=allowed)
    assert code == 0, err
    assert "byok-bot console" in out
