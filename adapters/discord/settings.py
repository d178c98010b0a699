"""The Discord group of the settings."""

from __future__ import annotations

from pydantic import Field

from bot.settings import OptionalSecret, SettingsGroup


class DiscordSettings(SettingsGroup):
    bot_token: OptionalSecret = Field(default=None, validation_alias="DISCORD_BOT_TOKEN")
    application_id: str | None = Field(default=None, validation_alias="DISCORD_APPLICATION_ID")
    dev_guild_id: int | None = Field(default=None, validation_alias="DISCORD_DEV_GUILD_ID")
    message_content: bool = Field(default=False, validation_alias="DISCORD_MESSAGE_CONTENT")

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None
