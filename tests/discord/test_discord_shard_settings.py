"""DISCORD_SHARD_COUNT and DISCORD_SHARD_IDS: what they accept, and one line for what they don't."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.discord import DiscordOptions
from app.settings import SettingsError, load_settings
from tests.fakes.cli import run_cli


def discord_settings(**variables: str) -> DiscordOptions:
    return DiscordOptions.from_settings(load_settings(None, variables).discord)


def test_neither_set_is_one_unsharded_connection() -> None:
    options = discord_settings()
    assert options.shard_count is None and options.shard_ids is None
    assert not options.sharded and options.syncs_commands


def test_a_count_alone_runs_every_shard_here() -> None:
    options = discord_settings(DISCORD_SHARD_COUNT="3")
    assert options.sharded and options.shard_count == 3 and options.shard_ids is None
    assert options.syncs_commands


@pytest.mark.parametrize(
    ("ids", "parsed"),
    [("0,1", (0, 1)), (" 2 , 0 ", (2, 0)), ("1-3", (1, 2, 3)), ("0,4-5,", (0, 4, 5)), ("7", (7,))],
)
def test_ids_are_a_list_of_ids_and_ranges(ids: str, parsed: tuple[int, ...]) -> None:
    options = discord_settings(DISCORD_SHARD_COUNT="8", DISCORD_SHARD_IDS=ids)
    assert options.shard_ids == parsed


def test_only_the_process_with_shard_0_syncs_slash_commands() -> None:
    assert discord_settings(DISCORD_SHARD_COUNT="4", DISCORD_SHARD_IDS="3,0").syncs_commands
    assert not discord_settings(DISCORD_SHARD_COUNT="4", DISCORD_SHARD_IDS="1-3").syncs_commands


@pytest.mark.parametrize(
    ("variables", "named", "says"),
    [
        ({"DISCORD_SHARD_IDS": "0,1"}, "DISCORD_SHARD_IDS", "needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,2"}, "DISCORD_SHARD_IDS",
         "shard 2 is outside 0..1"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "0,1,1,3,3"}, "DISCORD_SHARD_IDS",
         "shards 1, 3 are listed twice"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "0-2,2"}, "DISCORD_SHARD_IDS",
         "listed twice"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "one"}, "DISCORD_SHARD_IDS",
         "'one' is not a shard id"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "-1"}, "DISCORD_SHARD_IDS",
         "not a shard id"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "3-1"}, "DISCORD_SHARD_IDS",
         "empty range"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": " , "}, "DISCORD_SHARD_IDS",
         "lists no shard"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "0-999999999"}, "DISCORD_SHARD_IDS",
         "more than any DISCORD_SHARD_COUNT allows"),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": ",".join(["0-99998"] * 3)},
         "DISCORD_SHARD_IDS", "lists more shards than"),
        ({"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT", "must be at least 1"),
        ({"DISCORD_SHARD_COUNT": "two"}, "DISCORD_SHARD_COUNT", "must be a whole number"),
    ],
)  # fmt: skip
def test_bad_shard_settings_name_their_variable(
    variables: dict[str, str], named: str, says: str
) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(None, variables)
    [problem] = error.value.problems
    assert problem.startswith(f"{named}: ") and says in problem


def test_a_bad_count_is_not_blamed_on_the_ids_too() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(None, {"DISCORD_SHARD_COUNT": "many", "DISCORD_SHARD_IDS": "0"})
    assert [p.split(":")[0] for p in error.value.problems] == ["DISCORD_SHARD_COUNT"]


@pytest.mark.parametrize(
    "variables",
    [
        {"DISCORD_SHARD_IDS": "0,1"},
        {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0,2"},
        {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,1"},
    ],
)
async def test_run_stops_with_one_line_and_exit_2(
    tmp_path: Path, variables: dict[str, str]
) -> None:
    code, _, err = await run_cli(
        "run", cwd=tmp_path, env={"DISCORD_BOT_TOKEN": "not-used", **variables}
    )
    assert code == 2, err
    [line] = err.strip().splitlines()
    assert line.startswith("byok-bot: DISCORD_SHARD_IDS: ") and "Traceback" not in err
