"""providers.toml: the providers the operator allows, read once at start.

Without BYOK_PROVIDERS_FILE there is one built-in `openai` entry from OPENAI_BASE_URL, so a
deployment that never heard of this file works as before. A malformed file is one line
naming the entry and the field."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.key_formats import too_broad
from bot.providers import PROVIDER_ID, Provider, ProviderList, openai_provider
from bot.settings import ProviderSettings, sends_cleartext_off_host

FILE_LABEL = "providers.toml"
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
# Headers the bot sets itself from the member's key: an entry may not replace them.
_RESERVED_HEADERS = frozenset({"authorization", "api-key", "host", "content-length"})


class ProvidersFileError(Exception):
    """providers.toml cannot be used; one line per problem, each naming entry and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Price(BaseModel):
    """Dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, le=10_000)
    output: float = Field(ge=0, le=10_000)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    base_url: str
    key_pattern: str | None = None
    keys_page: str
    billing_page: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    models: list[str] | None = None
    streams: bool = True
    prices: dict[str, _Price] = Field(default_factory=dict)


def _web_page(url: str) -> str | None:
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    return None


def _entry_problems(entry: _Entry, *, allow_insecure: bool) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for field_name in ("base_url", "keys_page", "billing_page"):
        value = getattr(entry, field_name)
        if value is not None and (why := _web_page(value)):
            problems.append((field_name, why))
    if not allow_insecure and sends_cleartext_off_host(entry.base_url):
        problems.append(
            (
                "base_url",
                "http:// to another machine would send keys unencrypted; use https://, "
                "or set BYOK_ALLOW_INSECURE_URLS=true if that network is trusted",
            )
        )
    if entry.key_pattern is not None:
        try:
            compiled = re.compile(entry.key_pattern)
        except re.error as error:
            problems.append(("key_pattern", f"is not a regular expression ({error.msg})"))
        else:
            if (why := too_broad(compiled)) is not None:
                problems.append(("key_pattern", why))
    for name in entry.headers:
        if not _HEADER_NAME.fullmatch(name):
            problems.append(("headers", f"{name!r} is not a header name"))
        elif name.lower() in _RESERVED_HEADERS:
            problems.append(("headers", f"{name!r} is set by the bot from the member's key"))
    if entry.models is not None and not entry.models:
        problems.append(("models", "an empty list allows no model; leave it out to allow all"))
    return problems


def _problem_of(provider_id: str, error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ())]
    field_name = location[0] if location else "entry"
    kind = str(error.get("type", ""))
    match kind:
        case "missing":
            why = "is required"
        case "extra_forbidden":
            why = "is not a field of an entry"
        case "string_type" | "bool_type" | "list_type" | "dict_type":
            why = f"must be a {kind.removesuffix('_type').replace('dict', 'table')}"
        case "string_too_short":
            why = "must not be empty"
        case _:
            why = str(error.get("msg", "is not valid"))
    return f"{FILE_LABEL}: entry {provider_id!r}: field {field_name!r}: {why}"


def parse_providers(text: str, *, allow_insecure: bool) -> ProviderList:
    """The providers a providers.toml lists, in order; ProvidersFileError names what is wrong."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProvidersFileError([f"{FILE_LABEL}: not valid TOML ({error})"]) from None
    table = raw.get("providers")
    if set(raw) - {"providers"} or not isinstance(table, dict) or not table:
        raise ProvidersFileError(
            [f"{FILE_LABEL}: list providers as [providers.ID] tables, at least one"]
        )
    problems: list[str] = []
    providers: list[Provider] = []
    for provider_id, body in table.items():
        if not PROVIDER_ID.fullmatch(provider_id):
            problems.append(
                f"{FILE_LABEL}: entry {provider_id!r}: the id must be lowercase letters, "
                "digits and '-', starting with a letter"
            )
            continue
        if not isinstance(body, dict):
            problems.append(f"{FILE_LABEL}: entry {provider_id!r}: must be a table")
            continue
        try:
            entry = _Entry.model_validate(body)
        except ValidationError as error:
            problems += [_problem_of(provider_id, e) for e in error.errors()]  # type: ignore[arg-type]
            continue
        found = _entry_problems(entry, allow_insecure=allow_insecure)
        problems += [
            f"{FILE_LABEL}: entry {provider_id!r}: field {name!r}: {why}" for name, why in found
        ]
        if found:
            continue
        providers.append(
            Provider(
                id=provider_id,
                name=entry.name,
                base_url=entry.base_url.rstrip("/"),
                key_pattern=re.compile(entry.key_pattern) if entry.key_pattern else None,
                keys_page=entry.keys_page,
                billing_page=entry.billing_page,
                headers=dict(entry.headers),
                query=dict(entry.query),
                models=frozenset(entry.models) if entry.models is not None else None,
                streams=entry.streams,
                prices={
                    model: (price.input, price.output) for model, price in entry.prices.items()
                },
            )
        )
    if problems:
        raise ProvidersFileError(problems)
    return ProviderList(providers)


def load_providers(settings: ProviderSettings, *, allow_insecure: bool) -> ProviderList:
    """The file BYOK_PROVIDERS_FILE names, or the one built-in `openai` entry."""
    path = settings.providers_file
    if path is None:
        return ProviderList(
            [openai_provider(base_url=settings.base_url, streams=settings.streaming)]
        )
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ProvidersFileError([f"BYOK_PROVIDERS_FILE: cannot read {path}: {reason}"]) from None
    return parse_providers(text, allow_insecure=allow_insecure)
