"""The Dockerfile, compose.yaml and the systemd unit call byok-bot as the CLI really is.

Docker cannot run on the machines this project is built and tested on, so the image is not
built here; these checks keep its commands honest."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

from app.cli import _parser

ROOT = Path(__file__).resolve().parent.parent


def accepts(arguments: list[str]) -> bool:
    """Whether `byok-bot ARGUMENTS` parses (each subcommand and flag exists)."""
    try:
        _parser().parse_args(arguments)
    except SystemExit:
        return False
    return True


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_image_runs_byok_bot_as_the_cli_knows_it() -> None:
    text = dockerfile()
    (entrypoint,) = re.findall(r"^ENTRYPOINT (\[.*\])$", text, re.M)
    (command,) = re.findall(r"^CMD (\[.*\])$", text, re.M)
    assert json.loads(entrypoint) == ["byok-bot"]
    assert accepts(json.loads(command))


def test_the_image_is_built_as_the_issue_asks() -> None:
    text = dockerfile()
    assert re.search(r"^FROM python:3\.1[1-9]-slim", text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M), "runs as a non-root user"
    assert 'VOLUME ["/data"]' in text
    assert re.search(r"^STOPSIGNAL SIGTERM$", text, re.M)
    assert "/healthz" in re.findall(r"^HEALTHCHECK .*(?:\n\s+.*)*", text, re.M)[0]
    # Installed from the wheel of this tree, with the locked dependencies.
    assert "pip wheel" in text and "requirements/run.lock" in text
    for source in ("app/", "bot/", "adapters/", "storage/"):
        assert f"COPY {source} {source}" in text


def test_compose_commands_exist() -> None:
    text = (ROOT / "compose.yaml").read_text()
    commands = [json.loads(found) for found in re.findall(r"command: (\[.*\])", text)]
    assert commands, "compose.yaml names its commands"
    for command in commands:
        assert accepts(command), command
    assert "postgres:" in text and "env_file:" in text and "volumes:" in text


def test_the_systemd_unit_commands_exist() -> None:
    text = (ROOT / "deploy" / "byok-bot.service").read_text()
    lines = re.findall(r"^Exec\w+=(.+)$", text, re.M)
    assert lines
    for line in lines:
        program, *arguments = shlex.split(line)
        assert program.endswith("/byok-bot"), line
        assert accepts(arguments), line
    assert re.search(r"^KillSignal=SIGTERM$", text, re.M)
    assert re.search(r"^User=(?!root)\S+$", text, re.M)
    # Exit status 2 means an operator must fix a setting; restarting cannot help.
    assert re.search(r"^RestartPreventExitStatus=2$", text, re.M)


def test_every_subcommand_explains_itself() -> None:
    parser = _parser()
    (subcommands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help for choice in subcommands._choices_actions}
    assert set(helps) == set(subcommands.choices)
    for name, text in helps.items():
        assert text and "\n" not in text, name
        for action in subcommands.choices[name]._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"
