from __future__ import annotations

import pytest

from bot.keys import (
    KeyRefusal,
    contains_key,
    find_keys,
    mask_key,
    normalise_key,
    redact_keys,
)
from tests.fakes.core import make_key


def test_normalise_strips_surrounding_whitespace() -> None:
    key = make_key()
    assert normalise_key(f"  {key}\n") == key


@pytest.mark.parametrize(
    ("raw", "reason_word"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("sk-proj-abc def", "spaces"),
        ("sk-proj-abc\ndef", "line breaks"),
        ("sk-" + "a" * 600, "longer"),
        ("sk-admin-" + "a" * 40, "admin key"),
    ],
)
def test_bad_input_is_refused_with_its_reason(raw: str, reason_word: str) -> None:
    refusal = normalise_key(raw)
    assert isinstance(refusal, KeyRefusal)
    assert reason_word in refusal.reason
    if len(raw.strip()) > 12:
        assert raw.strip() not in refusal.reason


def test_512_characters_is_still_accepted() -> None:
    key = "sk-" + "a" * 509
    assert normalise_key(key) == key


def test_mask_shows_at_most_first_seven_and_last_four() -> None:
    key = make_key()
    masked = mask_key(key)
    assert masked == f"{key[:7]}...{key[-4:]}"
    assert len(masked.replace("...", "")) <= 11


def test_mask_of_a_short_string_reveals_less() -> None:
    assert mask_key("sk-short") == "sk-..."


def test_patterns_find_project_legacy_and_service_keys() -> None:
    legacy = "sk-" + "A" * 20 + "T3BlbkFJ" + "b" * 20
    service = make_key("sk-svcacct-")
    project = make_key()
    text = f"one {project} two {legacy} three {service}"
    assert set(find_keys(text)) == {project, legacy, service}
    assert contains_key(text)
    redacted = redact_keys(text)
    for key in (project, legacy, service):
        assert key not in redacted


def test_ordinary_text_is_not_a_key() -> None:
    assert not contains_key("ask-me about sk-learn and the desk-lamp")
