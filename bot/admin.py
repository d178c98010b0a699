"""Server and workspace admins' settings: every rule about reading, checking and showing
them, once for every platform. Adapters translate their mention syntax and show the result."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot import texts
from bot.domain import Cap, CapPeriod, WorkspaceConfig
from bot.keys import contains_key
from bot.limits import describe_cap, parse_cap
from bot.prompts import PromptRefused, check_prompt

CAP_PERIODS: tuple[CapPeriod, ...] = ("daily", "monthly")
BAD_CAP = "A member cap looks like `2 usd`, `$5`, `50000 tokens`, or `off` to remove it."
# Model ids as providers write them (`gpt-4.1-mini`, `ft:gpt-4o:org::id`, `openai/gpt-4o`);
# anything else (spaces, markup, a pasted key) is refused before it is stored or sent.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}")
DEFAULT_MODEL_WORD = "default"
ALL_CHANNELS = frozenset({"all", "*", "every", "everywhere"})
THREAD_WORDS = frozenset({"thread", "threaded", "threads"})
IN_PLACE_WORDS = frozenset({"in-place", "in place", "inplace", "in_place"})
SETTING_NAMES = (
    "channels",
    "model",
    "answers",
    "daily-cap",
    "monthly-cap",
    "prompt",
    "channel-prompt",
)
# Free text that may hold `;`: it takes the rest of the line, so it comes last.
TEXT_SETTINGS = frozenset({"prompt", "channel-prompt"})

# The adapter's reading of one word as a channel of its platform (`<#123>`, `<#C01|general>`,
# a bare id), or None when the word is not one.
ChannelReader = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class SettingsRequest:
    """An admin's raw choices, as typed; None leaves a setting as it is."""

    channels: str | None = None
    model: str | None = None
    answers: str | None = None
    daily_cap: str | None = None
    monthly_cap: str | None = None
    # The workspace's (server's) system prompt, and the prompt of the channel the command
    # was typed in; `off` (or empty) clears one.
    prompt: str | None = None
    channel_prompt: str | None = None

    @property
    def empty(self) -> bool:
        return all(value is None for value in dataclasses.astuple(self))


@dataclass(frozen=True, slots=True)
class SettingsRefused:
    """What was wrong, one sentence each; nothing was changed."""

    reasons: tuple[str, ...]


def is_model_name(text: str) -> bool:
    return bool(MODEL_NAME.fullmatch(text)) and not contains_key(text)


def read_channels(text: str, channel_id: ChannelReader) -> frozenset[str] | None:
    """`all` (every channel), or the channels named; None when any word is not a channel."""
    if " ".join(text.lower().split()) in ALL_CHANNELS:
        return frozenset()
    ids: set[str] = set()
    for word in text.replace(",", " ").split():
        channel = channel_id(word)
        if channel is None:
            return None
        ids.add(channel)
    return frozenset(ids) or None


def apply_settings(
    config: WorkspaceConfig,
    request: SettingsRequest,
    *,
    channel_id: ChannelReader,
    here: str = "",
) -> WorkspaceConfig | SettingsRefused:
    """The config with the admin's choices applied, or every reason it cannot be; `here` is
    the channel the command was typed in (empty in a DM), whose prompt `channel_prompt` is."""
    reasons: list[str] = []
    changes: dict[str, object] = {}
    for text in (request.prompt, request.channel_prompt):
        if text is not None and not text.strip():
            # `prompt` alone clearing it would surprise; the forms send `off` when emptied.
            reasons.append(texts.CONFIG_EMPTY_PROMPT)
    if request.prompt is not None and request.prompt.strip():
        prompt = check_prompt(request.prompt)
        if isinstance(prompt, PromptRefused):
            reasons.append(prompt.reason)
        else:
            changes["system_prompt"] = prompt
    if request.channel_prompt is not None and request.channel_prompt.strip():
        channel_prompt = check_prompt(request.channel_prompt)
        if isinstance(channel_prompt, PromptRefused):
            reasons.append(channel_prompt.reason)
        elif not here:
            reasons.append(texts.CONFIG_CHANNEL_PROMPT_WHERE)
        else:
            prompts = dict(config.channel_prompts)
            if channel_prompt is None:
                prompts.pop(here, None)
            else:
                prompts[here] = channel_prompt
            changes["channel_prompts"] = prompts
    if request.channels is not None:
        allowed = read_channels(request.channels, channel_id)
        if allowed is None:
            reasons.append(texts.CONFIG_BAD_CHANNELS)
        else:
            changes["allowed_channels"] = allowed
    if request.model is not None:
        model = request.model.strip()
        if model.lower() == DEFAULT_MODEL_WORD:
            changes["default_model"] = None
        elif is_model_name(model):
            changes["default_model"] = model
        else:
            reasons.append(texts.CONFIG_BAD_MODEL)
    if request.answers is not None:
        answers = " ".join(request.answers.lower().split())
        if answers in THREAD_WORDS:
            changes["threaded"] = True
        elif answers in IN_PLACE_WORDS:
            changes["threaded"] = False
        else:
            reasons.append(texts.CONFIG_BAD_ANSWERS)
    caps: dict[CapPeriod, Cap] = dict(config.member_caps)
    requested: tuple[tuple[CapPeriod, str | None], ...] = (
        ("daily", request.daily_cap),
        ("monthly", request.monthly_cap),
    )
    for period, text in requested:
        if text is None:
            continue
        cap = parse_cap(period, text)
        if cap is None:
            reasons.append(BAD_CAP)
        elif cap.cap is None:
            caps.pop(period, None)
        else:
            caps[period] = cap.cap
    if reasons:
        return SettingsRefused(tuple(dict.fromkeys(reasons)))
    if caps != config.member_caps:
        changes["member_caps"] = caps
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def parse_settings_text(text: str) -> SettingsRequest | SettingsRefused:
    """`channels #help #ai; model gpt-4o; daily-cap 2 usd` as typed in one line."""
    values: dict[str, str] = {}
    rest = text
    while rest:
        part, _, rest = rest.partition(";")
        words = part.split(maxsplit=1)
        if not words:
            continue
        name = words[0].lower().replace("_", "-")
        if name in TEXT_SETTINGS:
            # A prompt is free text: `;` inside it is its own.
            words = (part + (";" + rest if rest else "")).split(maxsplit=1)
            rest = ""
        if name not in SETTING_NAMES:
            # The name is echoed back only when it cannot be a key.
            shown = words[0] if is_model_name(words[0]) and len(words[0]) <= 30 else None
            return SettingsRefused((texts.config_unknown_setting(shown),))
        values[name.replace("-", "_")] = words[1].strip() if len(words) > 1 else ""
    return SettingsRequest(**values)


def settings_summary(config: WorkspaceConfig, *, place: str, changed: bool, here: str = "") -> str:
    """`place` is what the platform calls it: "server" on Discord, "workspace" on Slack.
    Channels are written as `<#ID>`, which both platforms show as the channel's name; the
    prompts are shown in full (the adapter makes any mention in them inert), the channel's
    for the channel `here` the command was typed in."""
    channels = sorted(config.allowed_channels)
    where = " ".join(f"<#{c}>" for c in channels) if channels else "every channel"
    model = f"`{config.default_model}`" if config.default_model else "the bot's default"
    answers = "in a thread on the question" if config.threaded else "in place"
    caps = [
        f"{period} {describe_cap(config.member_caps[period])}"
        for period in CAP_PERIODS
        if period in config.member_caps
    ]
    head = "Saved. " if changed else ""
    return (
        f"{head}Settings for this {place}:\n"
        f"• Answering in: {where}\n"
        f"• Default model: {model}\n"
        f"• Answers: {answers}\n"
        f"• Each member's spending here: {', '.join(caps) if caps else 'no cap'}\n"
        f"• {place.capitalize()} prompt: {_shown_prompt(config.system_prompt, 'the bot')}"
        + (
            f"\n• Prompt of <#{here}>: "
            + _shown_prompt(config.channel_prompts.get(here), f"the {place}")
            if here
            else ""
        )
    )


def _shown_prompt(prompt: str | None, instead: str) -> str:
    return f"\n{prompt}" if prompt else f"none ({instead}'s applies)"
