"""The Slack group of the settings."""

from __future__ import annotations

from pydantic import Field

from bot.settings import OptionalSecret, SettingsGroup, WebUrl


class SlackSettings(SettingsGroup):
    bot_token: OptionalSecret = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    app_token: OptionalSecret = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    signing_secret: OptionalSecret = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    api_url: WebUrl | None = Field(default=None, validation_alias="SLACK_API_URL")

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None
