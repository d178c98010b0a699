from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def test_every_setting_is_in_env_example_with_a_comment() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for name in Settings.model_fields:
        variable = name.upper()
        index = next((i for i, ln in enumerate(lines) if ln.startswith(f"{variable}=")), None)
        assert index is not None, f"{variable} missing from .env.example"
        assert lines[index - 1].startswith("# "), f"{variable} has no comment above it"


def test_master_keys_are_split_and_never_shown_in_repr() -> None:
    from bot.vault import generate_master_key

    first, second = generate_master_key(), generate_master_key()
    settings = Settings(_env_file=None, byok_master_keys=f" {first} , {second} ")  # type: ignore[call-arg,arg-type]
    assert settings.master_keys == [first, second]
    assert first not in repr(settings) and second not in repr(settings)


def test_operator_openai_key_is_not_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-" + "x" * 30)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "sk-operator" not in repr(settings.model_dump())


def test_blank_platform_tokens_mean_not_configured() -> None:
    settings = Settings(_env_file=None, discord_bot_token="", slack_bot_token="  ")  # type: ignore[call-arg,arg-type]
    assert not settings.discord_enabled and not settings.slack_enabled


def test_env_example_copied_as_is_loads(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(EXAMPLE.read_text())
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.discord_dev_guild_id is None and settings.slack_api_url is None
    assert not settings.discord_enabled and not settings.slack_enabled
    assert settings.master_keys == []
