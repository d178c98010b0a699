"""The Discord group of the settings."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import NoDecode

from bot.settings import OptionalSecret, SettingsGroup

# Far above any bot's needs (Discord suggests one shard per ~1,000 guilds); it bounds what a
# typo such as `0-99999999` could make this process allocate.
MAX_SHARDS = 100_000


class DiscordSettings(SettingsGroup):
    bot_token: OptionalSecret = Field(default=None, validation_alias="DISCORD_BOT_TOKEN")
    application_id: str | None = Field(
        default=None,
        validation_alias="DISCORD_APPLICATION_ID",
        # A snowflake: digits only. Anything else would make an invite link Discord refuses.
        pattern=r"^\s*\d{1,21}\s*$",
    )
    dev_guild_id: int | None = Field(default=None, validation_alias="DISCORD_DEV_GUILD_ID")
    message_content: bool = Field(default=False, validation_alias="DISCORD_MESSAGE_CONTENT")
    # Every process of one bot must name the same total: Discord routes a guild to shard
    # (guild_id >> 22) % count, so processes that disagree would both serve, or both miss, it.
    shard_count: int | None = Field(
        default=None, ge=1, le=MAX_SHARDS, validation_alias="DISCORD_SHARD_COUNT"
    )
    # Declared after shard_count: its check reads the count already validated.
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = Field(
        default=None, validation_alias="DISCORD_SHARD_IDS"
    )

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        return parse_shard_ids(value) if isinstance(value, str) else value

    @field_validator("shard_ids")
    @classmethod
    def _check_ids(
        cls, value: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        if value is None:
            return None
        if "shard_count" not in info.data:
            # DISCORD_SHARD_COUNT is itself invalid and reported; a second line would mislead.
            return value
        count = info.data["shard_count"]
        if count is None:
            raise ValueError(
                "needs DISCORD_SHARD_COUNT, the total number of shards across every process"
            )
        outside = sorted({shard for shard in value if not 0 <= shard < count})
        if outside:
            raise ValueError(
                f"{_shards(outside)} outside 0..{count - 1} (DISCORD_SHARD_COUNT={count})"
            )
        repeated = sorted(shard for shard, times in Counter(value).items() if times > 1)
        if repeated:
            raise ValueError(f"{_shards(repeated)} listed twice")
        return value


def _shards(ids: list[int]) -> str:
    listed = ", ".join(map(str, ids))
    return f"shard {listed} is" if len(ids) == 1 else f"shards {listed} are"


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """`0,1` or `0-3,8`: ranges spare an operator with many shards a long list."""
    ids: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low = int(first)
            high = int(last) if dash else low
        except ValueError:
            raise ValueError(
                f"{part!r} is not a shard id; use ids and ranges such as 0,1 or 0-3"
            ) from None
        if high < low:
            raise ValueError(f"{part!r} is an empty range")
        if high >= MAX_SHARDS:
            raise ValueError(f"shard {high} is more than any DISCORD_SHARD_COUNT allows")
        ids.extend(range(low, high + 1))
        if len(ids) > MAX_SHARDS:
            raise ValueError("lists more shards than any DISCORD_SHARD_COUNT allows")
    if not ids:
        raise ValueError("lists no shard; use ids and ranges such as 0,1 or 0-3")
    return tuple(ids)
