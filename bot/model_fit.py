"""Which of a key's own models to name: its chat models, the one its turns use when it
cannot use the default (so a member's first question does not end in "no access to that
model"), and one that reads images when the chosen one cannot."""

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


# Model ids a chat answer cannot come from; hidden from /model lists.
_NOT_CHAT = (
    "embedding",
    "tts",
    "whisper",
    "dall-e",
    "moderation",
    "davinci",
    "babbage",
    "transcribe",
    "image",
    "audio",
    "realtime",
    "search",
    "computer-use",
    "sora",
)


def chat_models(models: Sequence[str]) -> list[str]:
    return [m for m in models if not any(marker in m for marker in _NOT_CHAT)]


# Models that read images, best first for a quick answer; `vision_model` prefers these.
_VISION_MODELS = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-nano", "gpt-5-mini")
_VISION_FAMILIES = ("gpt-4o", "gpt-4.1", "gpt-5", "o3", "o4")


def vision_model(models: Sequence[str], *, exclude: str) -> str | None:
    """A model in `models` (the member's own list) that reads images, other than `exclude`."""
    available = [m for m in models if m != exclude]
    for name in _VISION_MODELS:
        if name in available:
            return name
    for model in chat_models(available):
        if model.startswith(_VISION_FAMILIES):
            return model
    return None
