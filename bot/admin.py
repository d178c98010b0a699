"""What server and workspace admins read about their settings, the same on every platform."""

from __future__ import annotations

from bot.domain import CapPeriod, WorkspaceConfig
from bot.limits import describe_cap

CAP_PERIODS: tuple[CapPeriod, ...] = ("daily", "monthly")
BAD_CAP = "A member cap looks like `2 usd`, `$5`, `50000 tokens`, or `off` to remove it."


def settings_summary(config: WorkspaceConfig, *, place: str, changed: bool) -> str:
    """`place` is what the platform calls it: "server" on Discord, "workspace" on Slack.
    Channels are written as `<#ID>`, which both platforms show as the channel's name."""
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
        f"• Each member's spending here: {', '.join(caps) if caps else 'no cap'}"
    )
