"""`make bench`'s own machinery, with tiny numbers: each approach runs in a fresh process
against the bench provider's process, and every answer is checked to have used its asker's
key. No timing is asserted here (speed lives in bench/)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import byok_environment, provider_process, run_one, seed_members
from bench.members import check_answer, key_tail_mark, make_keys, write_keys
from bench.report import paired, ratio
from bot.vault import generate_master_key

FIELDS = (
    "answers",
    "seconds",
    "answers_per_s",
    "p50_ms",
    "p99_ms",
    "first_text_p50_ms",
    "first_text_p99_ms",
    "cpu_ms_per_answer",
    "peak_rss_mb",
)


@pytest.fixture
async def provider() -> AsyncIterator[str]:
    async with provider_process() as base_url:
        yield base_url


@pytest.fixture
async def seeded(provider: str, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """Two members whose keys went through /setkey into a new SQLite database."""
    keys = make_keys(2)
    write_keys(tmp_path / "keys.json", keys)
    environment = byok_environment(
        tmp_path, provider, generate_master_key(), f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    )
    await seed_members(environment, keys)
    return environment, keys


@pytest.mark.parametrize("approach", ["A", "A-json", "B", "C"])
async def test_each_approach_runs_in_its_own_process_and_every_answer_shows_its_key(
    approach: str, provider: str, seeded: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    environment, keys = seeded
    log_file = tmp_path / f"{approach}.log"
    run = await run_one(
        approach,
        2,
        base_url=provider,
        keys_file=tmp_path / "keys.json",
        environment=environment,
        log_file=log_file,
        each=2,
    )
    assert run["approach"] == approach
    assert run["members"] == 2
    assert run["answers"] == 4
    assert run["key_checked"] == 4
    for name in FIELDS:
        assert isinstance(run[name], float | int) and run[name] > 0, name
    log = log_file.read_text()
    if approach == "B":
        # Logging is on at INFO, as `byok-bot run` configures it, and redacts as it does.
        assert run["log_lines"] > 0
        assert " INFO " in log
    assert not any(key in log for key in keys)


async def test_an_answer_asked_with_another_members_key_fails_the_run(
    provider: str, seeded: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    environment, keys = seeded
    # The runner expects each member's key to be the other's: byok-bot uses the stored ones,
    # so every answer shows a tail the runner did not expect.
    write_keys(tmp_path / "swapped.json", list(reversed(keys)))
    with pytest.raises(RuntimeError, match="WrongKey"):
        await run_one(
            "B",
            2,
            base_url=provider,
            keys_file=tmp_path / "swapped.json",
            environment=environment,
            log_file=tmp_path / "B.log",
            each=1,
        )


def test_the_check_refuses_another_members_tail_and_a_missing_answer() -> None:
    mine, theirs = make_keys(2)
    check_answer(key_tail_mark(mine) + "word1 ", mine)
    with pytest.raises(AssertionError, match="not"):
        check_answer(key_tail_mark(theirs) + "word1 ", mine)
    with pytest.raises(AssertionError):
        check_answer(None, mine)
    with pytest.raises(AssertionError):
        check_answer("word1 " + key_tail_mark(mine), mine)


def test_ratios_are_paired_within_each_repetition() -> None:
    runs: list[dict[str, Any]] = [
        {"approach": "A", "engine": None, "members": 100, "rep": 1, "answers_per_s": 100.0},
        {"approach": "B", "engine": "sqlite", "members": 100, "rep": 1, "answers_per_s": 90.0},
        {"approach": "A", "engine": None, "members": 100, "rep": 2, "answers_per_s": 50.0},
        {"approach": "B", "engine": "sqlite", "members": 100, "rep": 2, "answers_per_s": 50.0},
    ]
    value = paired(runs, "B sqlite", "A", 100, ratio("answers_per_s"))
    assert value == {"median": 0.95, "min": 0.9, "max": 1.0}


def test_the_readme_table_is_made_again_from_results_json() -> None:
    from bench.__main__ import README, RESULTS, TABLE_END, TABLE_START
    from bench.report import markdown

    results = json.loads(RESULTS.read_text())
    table = markdown(results)
    assert results["date"] in table
    for key in (
        "throughput_ratio_vs_sdk",
        "throughput_ratio_vs_client_per_message",
        "added_cpu_ms_per_answer",
        "added_p50_ms",
        "lookup_unseal_p99_ms",
        "peak_rss_mb",
    ):
        assert results[key], key
    assert {"cpu", "cores"} <= set(results["machine"])
    readme = README.read_text()
    assert readme.index(TABLE_START) < readme.index(TABLE_END)


def test_the_baselines_send_the_system_prompt_the_bot_sends() -> None:
    from bench.run_one import BASELINE_SYSTEM_PROMPT
    from bot.prompts import DEFAULT_SYSTEM_PROMPT

    assert BASELINE_SYSTEM_PROMPT == DEFAULT_SYSTEM_PROMPT
