"""Estimated cost from a dated price table kept in the repo (bot/data/prices.json)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from bot.providers import Provider, ProviderList


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float


@dataclass(frozen=True, slots=True)
class PriceTable:
    read_on: str
    prices: dict[str, Price]

    @classmethod
    def bundled(cls) -> PriceTable:
        raw = json.loads((resources.files("bot") / "data" / "prices.json").read_text("utf-8"))
        return cls(
            read_on=str(raw["prices_read_on"]),
            prices={
                name: Price(float(p["input"]), float(p["output"]))
                for name, p in raw["models"].items()
            },
        )

    def with_providers(self, providers: Iterable[Provider]) -> PriceTable:
        """This table plus each listed provider's own prices (providers.toml), under the names
        usage rows give that provider's models (`groq/llama-3.3-70b`): a price is never
        borrowed from another provider's model of the same name."""
        extra = {
            ProviderList.ledger_name(provider, model): Price(*price)
            for provider in providers
            for model, price in provider.prices.items()
        }
        return PriceTable(read_on=self.read_on, prices={**self.prices, **extra})

    def price_of(self, model: str) -> Price | None:
        """Exact id first, then the longest family name a dated snapshot starts with."""
        if model in self.prices:
            return self.prices[model]
        families = [name for name in self.prices if model.startswith(f"{name}-")]
        return self.prices[max(families, key=len)] if families else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price_of(model)
        if price is None:
            return None
        return (
            prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
        ) / 1_000_000
