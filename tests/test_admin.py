"""The one set of rules for admins' settings, as every platform applies them."""

from __future__ import annotations

import pytest

from bot import texts
from bot.admin import (
    BAD_CAP,
    SettingsRefused,
    SettingsRequest,
    apply_settings,
    is_model_name,
    parse_settings_text,
)
from bot.domain import Cap, WorkspaceConfig
from tests.fakes.core import make_key

EMPTY = WorkspaceConfig("test", "W1")


def bare_id(word: str) -> str | None:
    return word if word.isdigit() else None


def test_every_choice_is_applied() -> None:
    request = SettingsRequest(
        channels="1 2", model="gpt-4.1-mini", answers="in place", daily_cap="2 usd"
    )
    config = apply_settings(EMPTY, request, channel_id=bare_id)
    assert config == WorkspaceConfig(
        "test",
        "W1",
        allowed_channels=frozenset({"1", "2"}),
        default_model="gpt-4.1-mini",
        threaded=False,
        member_caps={"daily": Cap(2.0, "usd")},
    )


def test_every_refusal_is_reported_at_once_and_nothing_applies() -> None:
    request = SettingsRequest(
        channels="general", model="two words", answers="sideways", monthly_cap="lots"
    )
    refused = apply_settings(EMPTY, request, channel_id=bare_id)
    assert refused == SettingsRefused(
        (
            texts.CONFIG_BAD_CHANNELS,
            texts.CONFIG_BAD_MODEL,
            texts.CONFIG_BAD_ANSWERS,
            BAD_CAP,
        )
    )


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4.1-mini",
        "ft:gpt-4o-mini:my-org::abc123",
        "openai/gpt-4o",
        "o3",
    ],
)
def test_real_model_names_are_taken(model: str) -> None:
    assert is_model_name(model)


@pytest.mark.parametrize(
    "model",
    [
        "",
        "two words",
        "<@everyone>",
        "gpt`4",
        "x" * 101,
        "-leading-dash",
        make_key(),
        make_key("sk-"),
        make_key("sk-svcacct-"),
    ],
)
def test_anything_else_is_refused(model: str) -> None:
    assert not is_model_name(model)
    refused = apply_settings(EMPTY, SettingsRequest(model=model), channel_id=bare_id)
    assert isinstance(refused, SettingsRefused)
    assert all(model not in reason for reason in refused.reasons if model)


def test_default_clears_the_model() -> None:
    configured = WorkspaceConfig("test", "W1", default_model="gpt-4o")
    config = apply_settings(configured, SettingsRequest(model="Default"), channel_id=bare_id)
    assert isinstance(config, WorkspaceConfig) and config.default_model is None


def test_all_words_mean_every_channel() -> None:
    limited = WorkspaceConfig("test", "W1", allowed_channels=frozenset({"1"}))
    for word in ("all", "ALL", "everywhere", "*"):
        config = apply_settings(limited, SettingsRequest(channels=word), channel_id=bare_id)
        assert isinstance(config, WorkspaceConfig) and config.allowed_channels == frozenset()


def test_one_line_of_settings_is_read() -> None:
    assert parse_settings_text("channels #a #b; MODEL gpt-4o;daily_cap 2 usd; answers") == (
        SettingsRequest(channels="#a #b", model="gpt-4o", daily_cap="2 usd", answers="")
    )


def test_an_unknown_setting_is_named_unless_it_could_be_a_key() -> None:
    refused = parse_settings_text("colour blue")
    assert refused == SettingsRefused((texts.config_unknown_setting("colour"),))
    key = make_key()
    refused = parse_settings_text(f"{key} blue")
    assert isinstance(refused, SettingsRefused)
    assert key not in " ".join(refused.reasons)
