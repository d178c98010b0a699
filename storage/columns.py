"""How the core's values are spelled in a row, the same for every engine."""

from __future__ import annotations

from bot.domain import CapPeriod, CapUnit, Member


def cap_period(value: str) -> CapPeriod:
    return "monthly" if value == "monthly" else "daily"


def cap_unit(value: str) -> CapUnit:
    return "tokens" if value == "tokens" else "usd"


def member_key(member: Member) -> tuple[str, str, str]:
    return (member.platform, member.workspace, member.user)
