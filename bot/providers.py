"""The providers the operator allows, and how a model name says which one answers.

The operator lists every provider (providers.toml, read by the composition root); a member
brings a key for any of them and nothing else. A model is named `provider/model`, or bare
for the first listed provider; a name that points anywhere else (an unlisted provider, a
URL) is refused here, before any request is made, so no member can aim the bot at a host
the operator did not list."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from bot.domain import LEGACY_PROVIDER

OPENAI_KEYS_PAGE = "https://platform.openai.com/api-keys"
OPENAI_BILLING_PAGE = "https://platform.openai.com/settings/organization/billing"
# A provider id: what a member types before the `/` of a model name and in /setkey.
PROVIDER_ID = re.compile(r"[a-z][a-z0-9-]{0,31}")
_MODEL_CHARS = re.compile(r"[A-Za-z0-9._:@/+-]{1,200}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    id: str
    name: str
    base_url: str
    # What a key of this provider looks like: checked before the key is sent anywhere, and
    # known to the leak guard. None: any key (the provider's own check decides).
    key_pattern: re.Pattern[str] | None = None
    keys_page: str = OPENAI_KEYS_PAGE
    billing_page: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    # The only models members may use here; None: whatever the key can list.
    models: frozenset[str] | None = None
    streams: bool = True
    # Dollars per million input and output tokens, by model id, where the operator knows them.
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def accepts_key(self, key: str) -> bool:
        return self.key_pattern is None or self.key_pattern.fullmatch(key) is not None

    def allows_model(self, model: str) -> bool:
        return self.models is None or model in self.models


# Key shapes that name the provider that issued them (bot/key_formats.py knows them too): such
# a key is never sent to another provider, not even to be checked.
_ISSUERS = (
    ("sk-ant-", "anthropic", "Anthropic"),
    ("sk-or-", "openrouter", "OpenRouter"),
    ("gsk_", "groq", "Groq"),
)


def issued_elsewhere(key: str, provider: Provider) -> str | None:
    """The name of the provider whose shape `key` has, when that is not `provider` (by id,
    or by the operator's own pattern for it); None when the key may go to `provider`."""
    for prefix, issuer_id, issuer_name in _ISSUERS:
        if key.startswith(prefix):
            if provider.id == issuer_id:
                return None
            if provider.key_pattern is not None and provider.key_pattern.fullmatch(key):
                return None
            return issuer_name
    return None


@dataclass(frozen=True, slots=True)
class ModelChoice:
    provider: Provider
    model: str


@dataclass(frozen=True, slots=True)
class ModelRefusal:
    """Why a model name was refused; `reason` repeats nothing the member typed."""

    reason: str


def openai_provider(*, base_url: str, streams: bool = True) -> Provider:
    """The built-in entry when no providers.toml is given: today's OPENAI_BASE_URL."""
    return Provider(
        id=LEGACY_PROVIDER,
        name="OpenAI",
        base_url=base_url,
        key_pattern=None,
        keys_page=OPENAI_KEYS_PAGE,
        billing_page=OPENAI_BILLING_PAGE,
        streams=streams,
    )


class ProviderList:
    """The operator's providers in their order; the first is the default for bare names."""

    def __init__(self, providers: Sequence[Provider]) -> None:
        if not providers:
            raise ValueError("at least one provider must be listed")
        self._by_id = {provider.id: provider for provider in providers}
        if len(self._by_id) != len(providers):
            raise ValueError("provider ids must be unique")
        self._order = tuple(providers)

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return f"ProviderList({', '.join(self.ids)})"

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(provider.id for provider in self._order)

    @property
    def default(self) -> Provider:
        return self._order[0]

    @property
    def several(self) -> bool:
        """More than one provider: names, lists and forms say which one."""
        return len(self._order) > 1

    def get(self, provider_id: str) -> Provider | None:
        return self._by_id.get(provider_id.strip().lower())

    def matching_key(self, key: str) -> Provider | None:
        """The first listed provider whose key pattern the key matches."""
        for provider in self._order:
            if provider.key_pattern is not None and provider.key_pattern.fullmatch(key):
                return provider
        return None

    def for_key(self, key: str) -> Provider:
        """The provider a key's shape names, for a key given without one; else the default."""
        return self.matching_key(key) or self.default

    def split_model(self, name: str) -> ModelChoice | ModelRefusal:
        """`provider/model` (the first segment is a provider only when it is a listed id) or
        a bare model of the default provider. Refused: anything naming a URL or a provider
        not listed, and names no model has."""
        name = name.strip()
        if "://" in name or name.startswith("//") or "\\" in name:
            return ModelRefusal("A model name can't be an address.")
        if not _MODEL_CHARS.fullmatch(name):
            return ModelRefusal("That isn't a model name.")
        head, slash, rest = name.partition("/")
        provider = self._by_id.get(head.lower()) if slash else None
        if provider is not None:
            if not rest:
                return ModelRefusal("Name a model after the provider, like `provider/model`.")
            return ModelChoice(provider, rest)
        if slash:
            return ModelRefusal(
                "That names a provider this bot doesn't use. "
                f"The providers here: {', '.join(self.ids)}."
            )
        return ModelChoice(self.default, name)

    def qualified(self, provider: Provider, model: str) -> str:
        """The name stored and shown: bare for the default provider (so one provider reads as
        before providers were listed), `provider/model` for the others, and for a default
        provider's model whose own id has a `/` (OpenRouter's `openai/gpt-4o-mini`), which
        bare would read as another provider's."""
        if provider.id == self.default.id and "/" not in model:
            return model
        return f"{provider.id}/{model}"

    @staticmethod
    def ledger_name(provider: Provider, model: str) -> str:
        """The model as usage rows name it: bare for OpenAI (as before providers were listed,
        and as the bundled price table names them), `provider/model` for every other, so a
        row always says which account paid and no other provider's call is priced as
        OpenAI's."""
        return model if provider.id == LEGACY_PROVIDER else f"{provider.id}/{model}"

    def shown(self, provider: Provider, model: str) -> str:
        """The name in lists: `provider/model` whenever several providers are listed."""
        return f"{provider.id}/{model}" if self.several else model
