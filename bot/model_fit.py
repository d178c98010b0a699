"""Which model a key's turns use when it cannot use the default: a sensible one from the
key's own list, so a member's first question does not end in "no access to that model"."""

from __future__ import annotations

from collections.abc import Sequence

# Cheap, capable, widely available first; the first one the key lists wins.
PREFERRED = (
    "gpt-4o-mini",
    "gpt-4.1-mini",
    "gpt-5-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-5",
    "gpt-4-turbo",
    "gpt-3.5-turbo",
)


def fallback_model(usable: Sequence[str]) -> str:
    """The preferred model the key can use (also as `provider/model`), else the first of
    its chat models in name order; `usable` is not empty."""
    for wanted in PREFERRED:
        for model in usable:
            if model == wanted or model.endswith(f"/{wanted}"):
                return model
    return sorted(usable)[0]
