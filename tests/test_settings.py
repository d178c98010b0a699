from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, all_variables, load_settings
from bot.vault import generate_master_key

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def test_every_setting_is_in_env_example_with_a_comment() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for variable in all_variables():
        index = next((i for i, ln in enumerate(lines) if ln.startswith(f"{variable}=")), None)
        assert index is not None, f"{variable} missing from .env.example"
        assert lines[index - 1].startswith("# "), f"{variable} has no comment above it"


def test_master_keys_are_split_and_never_shown_in_repr() -> None:
    first, second = generate_master_key(), generate_master_key()
    settings = load_settings(None, {"BYOK_MASTER_KEYS": f" {first} , {second} "})
    assert settings.vault.master_keys == [first, second]
    assert first not in repr(settings) and second not in repr(settings)


def test_operator_openai_key_is_not_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-" + "x" * 30)
    settings = load_settings(None)
    assert "sk-operator" not in repr(settings)
    assert "OPENAI_API_KEY" not in all_variables()


def test_blank_platform_tokens_mean_not_configured() -> None:
    settings = load_settings(None, {"DISCORD_BOT_TOKEN": "", "SLACK_BOT_TOKEN": "  "})
    assert not settings.discord.enabled and not settings.slack.enabled


def test_env_example_copied_as_is_loads(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(EXAMPLE.read_text())
    settings = load_settings(env_file)
    assert settings.discord.dev_guild_id is None and settings.slack.api_url is None
    assert not settings.discord.enabled and not settings.slack.enabled
    assert settings.vault.master_keys == []


def test_each_group_reads_only_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_DEV_GUILD_ID", "42")
    monkeypatch.setenv("BYOK_HTTP_PORT", "8080")
    monkeypatch.setenv("BYOK_MAX_OUTPUT_TOKENS", "512")
    settings = load_settings(None)
    assert settings.discord.dev_guild_id == 42
    assert settings.http.port == 8080
    assert settings.limits.max_output_tokens == 512
    # No variable belongs to two groups.
    assert len(all_variables()) == len(set(all_variables()))


def test_every_invalid_setting_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(
            None,
            {
                "BYOK_HTTP_PORT": "0",
                "BYOK_REQUEST_TIMEOUT": "soon",
                "OPENAI_BASE_URL": "ftp://example",
                "DISCORD_DEV_GUILD_ID": "my-server",
            },
        )
    named = [problem.split(":", 1)[0] for problem in error.value.problems]
    assert sorted(named) == sorted(
        ["BYOK_HTTP_PORT", "BYOK_REQUEST_TIMEOUT", "OPENAI_BASE_URL", "DISCORD_DEV_GUILD_ID"]
    )


def test_log_level_in_any_case() -> None:
    assert load_settings(None, {"LOG_LEVEL": "debug"}).log.level == "DEBUG"


def test_problems_are_told_in_plain_words() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(
            None,
            {
                "BYOK_REQUEST_TIMEOUT": "soon",
                "BYOK_STREAMING": "maybe",
                "BYOK_MAX_OUTPUT_TOKENS": "1",
                "LOG_LEVEL": "loud",
                "DISCORD_DEV_GUILD_ID": "abc",
            },
        )
    assert sorted(error.value.problems) == [
        "BYOK_MAX_OUTPUT_TOKENS: must be at least 16 (got '1')",
        "BYOK_REQUEST_TIMEOUT: must be a number (got 'soon')",
        "BYOK_STREAMING: must be true or false (got 'maybe')",
        "DISCORD_DEV_GUILD_ID: must be a whole number (got 'abc')",
        "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR or CRITICAL (got LOUD)",
    ]
    for problem in error.value.problems:
        assert "Input should" not in problem and "Value error" not in problem
