"""The core's settings groups, and the base every group shares.

Each package owns the group it reads (storage, each adapter); the composition root
(`app/settings.py`) loads them all from the environment and `.env` and hands each
service only its own group. Every field names its environment variable as its alias,
so the variables keep their flat, documented names."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.prompts import DEFAULT_SYSTEM_PROMPT, PromptRefused, check_prompt

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["text", "json"]


class SettingsGroup(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        # `.env.example` copied as it is leaves many variables empty: empty means "default".
        env_ignore_empty=True,
        # OPENAI_API_KEY is deliberately not a field anywhere: the operator's key is never used.
    )

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        """The environment variables this group reads."""
        return tuple(str(field.validation_alias) for field in cls.model_fields.values())


def blank_is_unset(value: object) -> object:
    """A token left empty (or blank) in `.env` means the platform is not configured."""
    return None if isinstance(value, str) and not value.strip() else value


def require_web_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


def sends_cleartext_off_host(url: str) -> bool:
    """True for an http:// URL whose host is not this machine (127.0.0.0/8, ::1, localhost):
    what goes there (a member's key, the bot's token) crosses a network unencrypted."""
    if not url.lower().startswith("http://"):
        return False
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:  # e.g. an unclosed [IPv6 address: no host this rule can vouch for
        return True
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: it may resolve anywhere
        return True


# A platform token or secret; empty means "not configured".
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(blank_is_unset)]
WebUrl = Annotated[str, AfterValidator(require_web_url)]


class VaultSettings(SettingsGroup):
    master_keys_secret: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(), validation_alias="BYOK_MASTER_KEYS"
    )

    @field_validator("master_keys_secret", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("master_keys_secret")
    @classmethod
    def _check(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for position, key in enumerate(value, start=1):
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                raise ValueError(
                    f"key {position} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with `byok-bot init`"
                ) from None
        return value

    @property
    def master_keys(self) -> list[str]:
        return [key.get_secret_value() for key in self.master_keys_secret]


class ProviderSettings(SettingsGroup):
    base_url: WebUrl = Field(default=DEFAULT_OPENAI_BASE_URL, validation_alias="OPENAI_BASE_URL")
    default_model: str = Field(default="gpt-5-mini", validation_alias="BYOK_DEFAULT_MODEL")
    request_timeout: float = Field(
        default=60.0, gt=0, le=600, validation_alias="BYOK_REQUEST_TIMEOUT"
    )
    streaming: bool = Field(default=True, validation_alias="BYOK_STREAMING")
    # providers.toml: the providers members may bring keys for (app/providers_file.py);
    # unset, one built-in `openai` entry at base_url.
    providers_file: str | None = Field(default=None, validation_alias="BYOK_PROVIDERS_FILE")
    # The operator's system prompt, where no server or channel prompt applies.
    system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT, validation_alias="BYOK_SYSTEM_PROMPT")

    @field_validator("system_prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        checked = check_prompt(value)
        if isinstance(checked, PromptRefused):
            # The reason never repeats the text, so a key in it stays out of the error.
            raise ValueError(checked.reason)
        return checked or DEFAULT_SYSTEM_PROMPT


class NetworkSettings(SettingsGroup):
    # The rule itself is checked where the groups with URLs are composed (app/settings.py).
    allow_insecure_urls: bool = Field(default=False, validation_alias="BYOK_ALLOW_INSECURE_URLS")


class LimitSettings(SettingsGroup):
    max_context_tokens: int = Field(
        default=6000, ge=256, le=1_000_000, validation_alias="BYOK_MAX_CONTEXT_TOKENS"
    )
    max_output_tokens: int = Field(
        default=1024, ge=16, le=100_000, validation_alias="BYOK_MAX_OUTPUT_TOKENS"
    )
    max_concurrent_per_member: int = Field(
        default=1, ge=1, le=100, validation_alias="BYOK_MAX_CONCURRENT_PER_MEMBER"
    )
    requests_per_minute: int = Field(
        default=10, ge=1, le=10_000, validation_alias="BYOK_REQUESTS_PER_MINUTE"
    )
    # How long a member's slot stays taken by a turn nobody renews (see bot/limits.py): the
    # longest a process killed mid-answer keeps that member waiting.
    turn_lease_seconds: float = Field(
        default=30.0, ge=1, le=600, validation_alias="BYOK_TURN_LEASE_SECONDS"
    )
    # Keys checked at the provider per 10 minutes (see bot/intake.py).
    key_tries_per_member: int = Field(
        default=5, ge=1, le=1000, validation_alias="BYOK_KEY_TRIES_PER_MEMBER"
    )
    key_tries_per_workspace: int = Field(
        default=50, ge=1, le=100_000, validation_alias="BYOK_KEY_TRIES_PER_WORKSPACE"
    )
    # Files attached to a question (see bot/attachments.py).
    max_image_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        le=50 * 1024 * 1024,
        validation_alias="BYOK_MAX_IMAGE_BYTES",
    )
    max_images: int = Field(default=4, ge=0, le=20, validation_alias="BYOK_MAX_IMAGES")
    max_file_bytes: int = Field(
        default=200_000, ge=1024, le=10_000_000, validation_alias="BYOK_MAX_FILE_BYTES"
    )


class LogSettings(SettingsGroup):
    level: LogLevel = Field(default="INFO", validation_alias="LOG_LEVEL")
    # json: one object per line, for a log shipper (bot/redaction.py JsonFormatter).
    format: LogFormat = Field(default="text", validation_alias="LOG_FORMAT")
    # The HTTP client's `HTTP Request: POST ... 200` line for every provider call: off unless
    # asked, since a busy bot would write (and scan for keys) one per answer.
    http_requests: bool = Field(default=False, validation_alias="LOG_HTTP_REQUESTS")

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value
