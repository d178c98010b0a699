"""The Slack group of the settings."""

from __future__ import annotations

from pydantic import Field

from bot.settings import OptionalSecret, SettingsGroup, WebUrl


class SlackSettings(SettingsGroup):
    bot_token: OptionalSecret = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    app_token: OptionalSecret = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    signing_secret: OptionalSecret = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    # OAuth mode: one byok-bot installed by many workspaces ("Add to Slack"), each served with
    # its own bot token, instead of the one SLACK_BOT_TOKEN.
    client_id: OptionalSecret = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    client_secret: OptionalSecret = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    api_url: WebUrl | None = Field(default=None, validation_alias="SLACK_API_URL")

    @property
    def oauth(self) -> bool:
        """Installs through the OAuth flow: either OAuth variable names this mode (the
        adapter says which other one is missing, or that SLACK_BOT_TOKEN is set too)."""
        return self.client_id is not None or self.client_secret is not None

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None or self.oauth
