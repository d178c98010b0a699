"""How often keys may be checked: a bot that validates any key it is sent, as often as it
is sent one, is a free oracle for guessed or stolen keys."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.domain import Member
from bot.ports import AttemptLog, RateWindow

KEY_TRIES_SPAN = timedelta(minutes=10)
IntakeScope = Literal["member", "workspace"]


@dataclass(frozen=True, slots=True)
class IntakeThrottled:
    scope: IntakeScope
    retry_in: timedelta

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_in.total_seconds() / 60))


class KeyIntakeLimits:
    """Key checks per member and per workspace. On Discord and the console keys are not per
    server and the workspace is empty: there only the member's bound applies, since one
    bound shared by every member would let a handful of accounts lock everyone out.

    /forget leaves a member's recent tries counted: clearing them would make /forget a way
    round the bound. They are kept for one span only (a Store taking them over must expire
    them too, so they never outlive the window)."""

    def __init__(
        self,
        *,
        attempts: AttemptLog,
        per_member: int,
        per_workspace: int,
        span: timedelta = KEY_TRIES_SPAN,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._attempts = attempts
        self._per_member = per_member
        self._per_workspace = per_workspace
        self._span = span
        self._clock = clock

    @property
    def per_member(self) -> int:
        return self._per_member

    @property
    def span(self) -> timedelta:
        return self._span

    async def admit(self, member: Member) -> IntakeThrottled | None:
        """Count one key check, or say why it must wait; call it before the provider is asked."""
        mine = RateWindow(f"key-intake:member:{member}", self._per_member, self._span)
        windows = [mine]
        if member.workspace:
            windows.append(
                RateWindow(
                    f"key-intake:workspace:{member.platform}:{member.workspace}",
                    self._per_workspace,
                    self._span,
                )
            )
        refusal = await self._attempts.attempt(windows, self._clock())
        if refusal is None:
            return None
        scope: IntakeScope = "member" if refusal.window == mine else "workspace"
        return IntakeThrottled(scope, refusal.retry_in)
