from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.disguise import Traced
from bot.key_reader import KeyReader
from bot.keys import (
    _MAYBE_PREFIX,
    KeyRefusal,
    _read,
    contains_key,
    find_keys,
    lone_key,
    mask_key,
    normalise_key,
    redact_keys,
)
from tests.fakes.core import make_key
from tests.fakes.keys import FIXED_FORMATS, URLSAFE, escaped_json


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


# The disguises the outside review used, each on its own (tests/test_key_finder_properties.py
# combines them at random).
def _legacy(rng: random.Random) -> str:
    return FIXED_FORMATS["openai-legacy-plain"](rng)


@pytest.mark.parametrize(
    ("name", "disguise"),
    [
        ("zero-width space", lambda k: k[:12] + "\u200b" + k[12:]),
        ("soft hyphen", lambda k: k[:5] + "\u00ad" + k[5:30] + "\u00ad" + k[30:]),
        ("word joiner and BOM", lambda k: k[:2] + "\u2060" + k[2:9] + "\ufeff" + k[9:]),
        ("Unicode hyphens", lambda k: k.replace("-", "\u2011", 1).replace("-", "\u2212")),
        ("fullwidth hyphen", lambda k: k.replace("-", "\uff0d")),
        ("%2D for -", lambda k: k.replace("-", "%2D")),
        ("a space in the first 20", lambda k: k[:10] + " " + k[10:]),
        ("a line break in the first 20", lambda k: k[:4] + "\n" + k[4:]),
        ("a line break later", lambda k: k[:90] + "\r\n" + k[90:]),
    ],
)
def test_a_disguised_key_is_found_as_issued_and_masked_where_it_stands(
    name: str, disguise: Callable[[str], str]
) -> None:
    key = make_key()
    text = f"my key is {disguise(key)} thanks"
    assert find_keys(text) == [key], name
    assert redact_keys(text) == f"my key is {mask_key(key)} thanks"


def test_a_legacy_key_glued_to_a_word_is_found() -> None:
    key = _legacy(random.Random(1))
    text = f"mykey{key} ok"
    assert find_keys(text) == [key]
    assert redact_keys(text) == f"mykey{mask_key(key)} ok"


def test_a_key_after_an_escaped_line_break_in_json_is_found() -> None:
    key = _legacy(random.Random(2))
    logged = escaped_json(f"hello\n{key}")
    assert "\\n" + key in logged, "the key follows a backslash-n, where \\b never matches"
    assert find_keys(logged) == [key]
    assert key not in redact_keys(logged) and mask_key(key) in redact_keys(logged)


def test_json_escapes_of_invisible_characters_are_undone() -> None:
    key = make_key()
    logged = escaped_json(key[:20] + "\u00ad" + key[20:])
    assert "\\u00ad" in logged
    assert find_keys(logged) == [key]


def test_percent_encoded_utf8_zero_width_space_is_undone() -> None:
    key = make_key()
    text = f"https://example.com/?k={key[:30]}%E2%80%8B{key[30:]}"
    assert find_keys(text) == [key]


@pytest.mark.parametrize("name", sorted(FIXED_FORMATS))
def test_every_known_format_is_found(name: str) -> None:
    key = FIXED_FORMATS[name](random.Random(name))
    assert find_keys(f"({key})") == [key]


@pytest.mark.parametrize(
    "text",
    [
        "ask-me about sk-learn and the desk-lamp",
        "task-management-dashboard-configuration-loader-v2",
        "risk-Assessment-2024-Q3-final-Report-Version",
        "that's k-means clustering with 20 features",
        "see task-3f2a9c1e-4b7d-4e2a-9f1c-2b3d4e5f6a7b",
        "and desk-0123456789abcdef0123456789abcdef01234567 too",
        "the task — eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
        "C:\\Users\\task\\new_folder 100% done",
        "Café — naïve risk – mitigation 🚀",
    ],
)
def test_ordinary_text_is_not_a_key_and_passes_unchanged(text: str) -> None:
    assert not contains_key(text)
    assert redact_keys(text) is text


def test_a_key_followed_by_words_ends_where_the_words_begin() -> None:
    rng = random.Random(3)
    key = "sk-" + "".join(rng.choice(URLSAFE) for _ in range(60))
    for after in (" thanks", " Thanks!", " OK", " 2024", "\nbye"):
        assert find_keys(key + after) == [key], after


def test_normalise_key_takes_a_lone_disguised_key_as_issued() -> None:
    key = make_key()
    assert normalise_key("\u200b" + key[:9] + "\u00ad" + key[9:] + "\n") == key
    assert lone_key(f"{key} and more") is None


@pytest.mark.parametrize("kind", ["sk-proj-", "sk-svcacct-", "sk-admin-"])
def test_a_marked_key_is_found_whatever_its_body_reads_like(kind: str) -> None:
    """`sk-proj-41-Rh-06-SyD-ukuSfwkQt2VH-BwtNWN` (a key cut short, or of an unknown length)
    once read as words and went through unmasked; a kind's mark needs no more proof."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_"
    for _ in range(2000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(20, 80)))
        key = kind + body
        assert find_keys(f"see {key} here") == [key], key
        assert key not in redact_keys(f"see {key} here")


@given(st.text(alphabet="skgSK-_ aAb1\n\t", max_size=40))
@settings(max_examples=500, deadline=None, database=None)
def test_growing_plain_text_is_held_back_exactly_as_the_reader_would(text: str) -> None:
    # scan_stream skips the reader for plain text with no key prefix; what it then holds
    # back for the next chunk must be what the reader itself would have held back.
    reader = KeyReader(text, Traced.of(text), growing=True)
    found = reader.keys()
    if found or _MAYBE_PREFIX.search(text):
        return
    assert _read(text, growing=True) == ([], reader.undecided)
