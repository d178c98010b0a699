"""Every setting, read once from the environment and `.env`, then passed in."""

from __future__ import annotations

from typing import Annotated, Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `.env.example` copied as it is leaves many variables empty: empty means "default".
        env_ignore_empty=True,
        # OPENAI_API_KEY is deliberately not a field: the operator's key is never used.
    )

    byok_master_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    database_url: str = "sqlite:///data/byok-bot.sqlite3"
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    byok_default_model: str = "gpt-5-mini"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    byok_request_timeout: float = Field(default=60.0, gt=0, le=600)
    byok_max_context_tokens: int = Field(default=6000, ge=256, le=1_000_000)
    byok_max_output_tokens: int = Field(default=1024, ge=16, le=100_000)
    byok_max_concurrent_per_member: int = Field(default=1, ge=1, le=100)
    byok_requests_per_minute: int = Field(default=10, ge=1, le=10_000)
    byok_streaming: bool = True

    discord_bot_token: SecretStr | None = None
    discord_application_id: str | None = None
    discord_dev_guild_id: int | None = None
    discord_message_content: bool = False

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str | None = None
    byok_http_port: int = Field(default=3000, ge=1, le=65535)

    @field_validator("byok_master_keys", mode="before")
    @classmethod
    def _split_master_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("byok_master_keys")
    @classmethod
    def _check_master_keys(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for position, key in enumerate(value, start=1):
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                raise ValueError(
                    f"key {position} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with `byok-bot init`"
                ) from None
        return value

    @field_validator("openai_base_url", "slack_api_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator(
        "discord_bot_token",
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def master_keys(self) -> list[str]:
        return [key.get_secret_value() for key in self.byok_master_keys]

    @property
    def discord_enabled(self) -> bool:
        return self.discord_bot_token is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None
