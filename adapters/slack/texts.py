"""Sentences only Slack members read; everything shared lives in bot/texts.py."""

from __future__ import annotations

COMMAND_FAILED = "Sorry, something went wrong. Please try again."
MODAL_TITLE = "Your OpenAI key"
MODAL_SUBMIT = "Save"
MODAL_CLOSE = "Cancel"
MODAL_DONE = "Done"
MODAL_LABEL = "OpenAI API key"
# With several providers listed.
MODAL_KEYS_TITLE = "Your API key"
MODAL_KEY_LABEL = "API key"
MODAL_PROVIDER_LABEL = "Provider"
MODAL_HINT = (
    "Only this app sees what you type here. The key is checked for free with the provider, "
    "then sealed; it is never shown again, only a masked form."
)
MODAL_PLACEHOLDER = "sk-proj-..."

HOME_TITLE = "Bring your own key"
HOME_INTRO = (
    "I answer with *your own* OpenAI API key, so you pay only for your own questions. "
    "Mention me in a channel, or write to me in the Messages tab."
)
HOME_NO_KEY = "You have no key yet. Add one to start asking."
HOME_SET = "Set key"
HOME_REPLACE = "Replace key"
HOME_REMOVE = "Remove key"
HOME_REMOVE_CONFIRM_TITLE = "Remove your key?"
HOME_REMOVE_CONFIRM_TEXT = "I'll delete your key. You can add one again any time."
HOME_REMOVE_CONFIRM_YES = "Remove"
HOME_REMOVE_CONFIRM_NO = "Keep it"

SLACK_HELP_EXTRA = (
    "On Slack: `/byok-help` shows this, the *Home* tab shows your key, "
    "and `/usage` and `/limit` show and cap your spending. "
    "Workspace admins set channels, model and caps with `/byok-config`."
)


def key_status_line(masked: str, working: bool) -> str:
    status = "working" if working else "rejected by the provider; set a new one"
    return f"*Your key:* `{masked}` ({status})"


MODAL_CHECKING = "Checking your key with the provider… this window will show the result."

CONFIG_ADMIN_ONLY = "Only workspace admins and owners can change my settings here."
CONFIG_ORG_ADMIN_ONLY = (
    "I'm installed for the whole Enterprise Grid org, so only org admins and owners "
    "can change my settings."
)
CONFIG_CHECK_FAILED = "I couldn't check your admin rights with Slack just now. Please try again."
CONFIG_SYNTAX = (
    "Usage, one setting or several separated by `;`:\n"
    "• `/byok-config` shows the settings\n"
    "• `/byok-config channels all` or `channels #help #ai`\n"
    "• `/byok-config model gpt-4o` or `model default`\n"
    "• `/byok-config answers thread` or `answers in-place`\n"
    "• `/byok-config daily-cap 2 usd`, `monthly-cap 50000 tokens`, or `daily-cap off`\n"
    "• `/byok-config prompt` or `channel-prompt` (this channel) opens a form for the prompt; "
    "`prompt TEXT` sets it (last: it takes the rest of the line), `prompt off` clears it\n"
    "Nothing was changed."
)

# Bolt posts this to a slash command's response_url when a workspace has no installation
# (removed, or installed some other way); events from there get no answer at all.
NOT_INSTALLED = (
    "byok-bot is not installed in this workspace any more. An admin can add it again "
    'with "Add to Slack".'
)

PROMPT_PLACEHOLDER = "Leave empty to clear. Never put an API key here."
INSTRUCTIONS_TITLE = "Your instructions"
INSTRUCTIONS_LABEL = "How should I answer you?"
WORKSPACE_PROMPT_TITLE = "Workspace prompt"
CHANNEL_PROMPT_TITLE = "Channel prompt"
PROMPT_LABEL = "System prompt"
# Shown between a question and the first words of its answer.
THINKING = "_Thinking…_"
# An assistant thread's status: Slack shows it after the app's name.
THINKING_STATUS = "is thinking…"
ASK_USAGE = "Usage: `/ask your question`. Only you will see the answer."
