"""/usage and /limit: what a member spent, and the caps they set themselves."""

from __future__ import annotations

from bot import texts
from bot.domain import CapPeriod, Member, ModelUsage, Reply, Severity
from bot.limits import ClearCaps, SetCap, ShowCaps, describe_cap, parse_limit, window
from bot.ports import Store
from bot.usage import Spend, UsageLedger, day_start, month_start

_PERIODS: tuple[CapPeriod, ...] = ("daily", "monthly")


class SpendingCommands:
    def __init__(self, *, store: Store, ledger: UsageLedger) -> None:
        self._store = store
        self._ledger = ledger

    def _line(self, label: str, usages: list[ModelUsage]) -> list[str]:
        spend = Spend.of(usages, self._ledger.prices)
        lines = [
            f"*{label}*: {spend.tokens:,} tokens ({spend.prompt_tokens:,} in, "
            f"{spend.completion_tokens:,} out){_cost_suffix(spend)}"
        ]
        for usage in usages:
            if not usage.prompt_tokens and not usage.completion_tokens:
                continue
            cost = self._ledger.prices.cost(
                usage.model, usage.prompt_tokens, usage.completion_tokens
            )
            shown = f"≈ ${cost:,.4f}" if cost is not None else "cost unknown"
            lines.append(
                f"  • `{usage.model}`: {usage.prompt_tokens + usage.completion_tokens:,} tokens, "
                f"{shown}"
            )
        return lines

    async def usage(self, member: Member) -> Reply:
        now = self._ledger.now()
        today = await self._ledger.by_model(member, since=day_start(now))
        month = await self._ledger.by_model(member, since=month_start(now))
        caps = await self._store.get_caps(member)
        lines = ["Your usage (estimates; your provider's invoice is what counts):"]
        lines += self._line("Today (UTC)", today)
        lines += self._line("This month", month)
        lines.append(f"Prices as read on {self._ledger.prices.read_on}.")
        if caps:
            lines.append(
                "Your caps: "
                + ", ".join(
                    f"{period} {describe_cap(caps[period])}"
                    for period in _PERIODS
                    if period in caps
                )
            )
        else:
            lines.append("No caps set; see `/limit`.")
        unpriced = Spend.of(month, self._ledger.prices).unpriced_models
        if unpriced and any(cap.unit == "usd" for cap in caps.values()):
            # A dollar cap cannot count what has no price: say so rather than imply it does.
            lines.append(texts.dollar_cap_skips(list(unpriced)))
        return Reply("\n".join(lines))

    async def limit(self, member: Member, argument: str) -> Reply:
        request = parse_limit(argument)
        match request:
            case None:
                return Reply(texts.LIMIT_UNCLEAR, Severity.REFUSED)
            case ShowCaps():
                caps = await self._store.get_caps(member)
                if not caps:
                    return Reply("You have no caps. " + texts.LIMIT_HELP)
                now = self._ledger.now()
                lines = []
                for period in _PERIODS:
                    if period in caps:
                        span = window(period, now)
                        lines.append(
                            f"{period.capitalize()}: {describe_cap(caps[period])}, "
                            f"resets {span.resets:%Y-%m-%d %H:%M} UTC"
                        )
                return Reply("\n".join(lines))
            case ClearCaps():
                for period in _PERIODS:
                    await self._store.set_cap(member, period, None)
                return Reply(texts.LIMITS_CLEARED)
            case SetCap(period=period, cap=None):
                await self._store.set_cap(member, period, None)
                return Reply(texts.limit_cleared(period))
            case SetCap(period=period, cap=cap):
                await self._store.set_cap(member, period, cap)
                assert cap is not None
                return Reply(texts.limit_set(period, describe_cap(cap)))
        raise AssertionError("every limit request is handled above")


def _cost_suffix(spend: Spend) -> str:
    if not spend.priced_models:
        return ", cost unknown" if spend.unpriced_models else ""
    partial = " plus models of unknown cost" if spend.unpriced_models else ""
    return f", ≈ ${spend.cost_usd:,.4f}{partial}"
