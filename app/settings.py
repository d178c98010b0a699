"""Every settings group, loaded at once from the environment and `.env`.

Each service is handed only its own group; nothing reads settings from a global."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from adapters.discord.settings import DiscordSettings
from adapters.slack.settings import SlackSettings
from bot.settings import LimitSettings, LogSettings, ProviderSettings, SettingsGroup, VaultSettings
from storage.settings import StorageSettings

DEFAULT_ENV_FILE = Path(".env")
Group = TypeVar("Group", bound=SettingsGroup)


class SettingsError(Exception):
    """One or more settings are wrong; one line per variable, each naming it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    vault: VaultSettings
    provider: ProviderSettings
    limits: LimitSettings
    log: LogSettings
    storage: StorageSettings
    discord: DiscordSettings
    slack: SlackSettings


GROUPS: dict[str, type[SettingsGroup]] = {
    "vault": VaultSettings,
    "provider": ProviderSettings,
    "limits": LimitSettings,
    "log": LogSettings,
    "storage": StorageSettings,
    "discord": DiscordSettings,
    "slack": SlackSettings,
}


def load_settings(
    env_file: Path | None = DEFAULT_ENV_FILE, values: Mapping[str, object] | None = None
) -> Settings:
    """Every group from the environment and `env_file`; `values` (keyed by variable name)
    take precedence. Raises SettingsError listing every invalid variable at once."""
    given = {name.upper(): value for name, value in (values or {}).items()}
    groups: dict[str, SettingsGroup] = {}
    problems: list[str] = []
    for name, group in GROUPS.items():
        try:
            groups[name] = _load(group, env_file, given)
        except ValidationError as error:
            problems += [_describe(problem) for problem in error.errors()]
    if problems:
        raise SettingsError(problems)
    return Settings(**groups)  # type: ignore[arg-type]


def _load(group: type[Group], env_file: Path | None, given: Mapping[str, object]) -> Group:
    mine: dict[str, Any] = {k: v for k, v in given.items() if k in group.variables()}
    return group(_env_file=env_file, **mine)  # type: ignore[call-arg]


def _describe(problem: Mapping[str, Any]) -> str:
    location = problem.get("loc") or ("settings",)
    return f"{str(location[0]).upper()}: {problem['msg']}"


def all_variables() -> list[str]:
    return [variable for group in GROUPS.values() for variable in group.variables()]
