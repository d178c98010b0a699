"""Sentences only Discord members read; everything platform-neutral is in bot.texts."""

from __future__ import annotations

from bot.providers import Provider

SETKEY_MODAL_TITLE = "Set your OpenAI API key"
SETKEY_FIELD_LABEL = "OpenAI API key"


def setkey_modal_title(provider: Provider | None) -> str:
    # Discord allows 45 characters in a modal title.
    return f"Set your {provider.name} API key"[:45] if provider else SETKEY_MODAL_TITLE


def setkey_field_label(provider: Provider | None) -> str:
    return f"{provider.name} API key"[:45] if provider else SETKEY_FIELD_LABEL


SETKEY_FIELD_PLACEHOLDER = "sk-..."
COMMAND_FAILED = "Sorry, something went wrong with that command. Please try again."


def dms_closed(user_id: int) -> str:
    # Shown in the channel, so it says nothing about keys or what the bot wanted to tell them.
    return (
        f"<@{user_id}> I couldn't send you a direct message. "
        "Allow DMs from this server's members (Privacy settings), then ask again."
    )


CONFIG_ADMIN_ONLY = "Only members with the Manage Server permission can change my settings here."
CONFIG_GUILD_ONLY = "Use `/byok-config` inside a server."

PROMPT_FIELD_PLACEHOLDER = "Leave empty to clear. Never put an API key here."
INSTRUCTIONS_MODAL_TITLE = "Your instructions"
INSTRUCTIONS_FIELD_LABEL = "How should I answer you?"
SERVER_PROMPT_MODAL_TITLE = "This server's prompt"
CHANNEL_PROMPT_MODAL_TITLE = "This channel's prompt"
PROMPT_FIELD_LABEL = "System prompt"
