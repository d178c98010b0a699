"""Every settings group, loaded at once from the environment and `.env`.

Each service is handed only its own group; nothing reads settings from a global."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import SettingsConfigDict

from adapters.discord.settings import DiscordSettings
from adapters.slack.settings import SlackSettings
from app.providers_file import ProvidersFileError, load_providers
from bot.providers import ProviderList
from bot.settings import (
    LimitSettings,
    LogSettings,
    NetworkSettings,
    ProviderSettings,
    SettingsGroup,
    VaultSettings,
    blank_is_unset,
    sends_cleartext_off_host,
)
from storage.settings import StorageSettings

DEFAULT_ENV_FILE = Path(".env")
# Read before any setting: it says where the settings are.
ENV_FILE_VARIABLE = "BYOK_ENV_FILE"


def env_file_path() -> Path:
    """`.env` in the working directory, or the file BYOK_ENV_FILE names."""
    return Path(os.environ.get(ENV_FILE_VARIABLE) or DEFAULT_ENV_FILE)


Group = TypeVar("Group", bound=SettingsGroup)


class RuntimeSettings(SettingsGroup):
    """How the process runs as a service."""

    shutdown_grace: float = Field(
        default=20.0, ge=0, le=600, validation_alias="BYOK_SHUTDOWN_GRACE"
    )


class HttpSettings(SettingsGroup):
    """The process's one HTTP server: health, metrics, and Slack's events in HTTP mode."""

    # Here an empty value is a choice, not "default": `BYOK_HTTP_PORT=` turns the server off.
    model_config = SettingsConfigDict(env_ignore_empty=False)

    port: Annotated[int | None, BeforeValidator(blank_is_unset)] = Field(
        default=3000, ge=1, le=65535, validation_alias="BYOK_HTTP_PORT"
    )


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
    network: NetworkSettings
    storage: StorageSettings
    discord: DiscordSettings
    slack: SlackSettings
    runtime: RuntimeSettings
    http: HttpSettings
    # From providers.toml, or the one built-in entry (app/providers_file.py).
    providers: ProviderList

    def serves_console(self, *, console_only: bool) -> bool:
        """`byok-bot console`, or `run` with no platform configured."""
        return console_only or not (self.discord.enabled or self.slack.enabled)


GROUPS: dict[str, type[SettingsGroup]] = {
    "vault": VaultSettings,
    "provider": ProviderSettings,
    "limits": LimitSettings,
    "log": LogSettings,
    "network": NetworkSettings,
    "storage": StorageSettings,
    "discord": DiscordSettings,
    "slack": SlackSettings,
    "runtime": RuntimeSettings,
    "http": HttpSettings,
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
    problems += _cleartext_urls(groups)
    providers = _providers(groups)
    if isinstance(providers, list):
        problems += providers
    if problems or isinstance(providers, list):
        raise SettingsError(problems)
    return Settings(**groups, providers=providers)  # type: ignore[arg-type]


def _providers(groups: Mapping[str, SettingsGroup]) -> ProviderList | list[str]:
    """The operator's providers, or what is wrong with the file that lists them."""
    provider, network = groups.get("provider"), groups.get("network")
    if not isinstance(provider, ProviderSettings) or not isinstance(network, NetworkSettings):
        return []
    try:
        return load_providers(provider, allow_insecure=network.allow_insecure_urls)
    except ProvidersFileError as error:
        return error.problems


def _cleartext_urls(groups: Mapping[str, SettingsGroup]) -> list[str]:
    """The URLs that would carry a member's key (the provider) or the bot's token (Slack)
    unencrypted to another machine, unless the operator says that network is trusted."""
    network, provider, slack = groups.get("network"), groups.get("provider"), groups.get("slack")
    if not isinstance(network, NetworkSettings) or network.allow_insecure_urls:
        return []
    urls = {
        "OPENAI_BASE_URL": provider.base_url if isinstance(provider, ProviderSettings) else None,
        "SLACK_API_URL": slack.api_url if isinstance(slack, SlackSettings) else None,
    }
    return [
        f"{variable}: http:// to another machine would send keys and tokens unencrypted; "
        "use https://, or set BYOK_ALLOW_INSECURE_URLS=true if that network is trusted"
        for variable, url in urls.items()
        if url is not None and sends_cleartext_off_host(url)
    ]


def _load(group: type[Group], env_file: Path | None, given: Mapping[str, object]) -> Group:
    mine: dict[str, Any] = {k: v for k, v in given.items() if k in group.variables()}
    return group(_env_file=env_file, **mine)  # type: ignore[call-arg]


def _describe(problem: Mapping[str, Any]) -> str:
    """One line an operator reads: the variable, what is wrong, in plain words."""
    location = problem.get("loc") or ("settings",)
    variable = str(location[0]).upper()
    return f"{variable}: {_in_plain_words(problem, secret=_may_hold_a_secret(variable))}"


def _may_hold_a_secret(variable: str) -> bool:
    # What was typed is repeated only where it cannot be a key, a token or a password.
    return variable.endswith(("_KEYS", "_TOKEN", "_SECRET")) or variable == "DATABASE_URL"


def _in_plain_words(problem: Mapping[str, Any], *, secret: bool) -> str:
    kind = str(problem.get("type", ""))
    context: Mapping[str, Any] = problem.get("ctx") or {}
    given = problem.get("input")
    short = isinstance(given, str) and len(given) <= 40
    shown = f" (got {given!r})" if short and not secret else ""
    match kind:
        case "value_error":
            # Our own validators' sentences, without pydantic's prefix.
            return str(problem["msg"]).removeprefix("Value error, ")
        case "int_parsing" | "int_from_float":
            return f"must be a whole number{shown}"
        case "float_parsing":
            return f"must be a number{shown}"
        case "bool_parsing":
            return f"must be true or false{shown}"
        case "greater_than_equal":
            return f"must be at least {context.get('ge')}{shown}"
        case "greater_than":
            return f"must be more than {context.get('gt')}{shown}"
        case "less_than_equal":
            return f"must be at most {context.get('le')}{shown}"
        case "less_than":
            return f"must be less than {context.get('lt')}{shown}"
        case "literal_error":
            return f"must be one of {context.get('expected', '')}{shown}".replace("'", "")
        case "string_pattern_mismatch" if problem.get("loc") == ("DISCORD_APPLICATION_ID",):
            return f"must be the application's numeric id{shown}"
        case "missing":
            return "is required"
    return str(problem["msg"])


def all_variables() -> list[str]:
    return [variable for group in GROUPS.values() for variable in group.variables()]
