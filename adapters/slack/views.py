"""Block Kit views: the /setkey modal and the App Home tab. No key is ever put in one."""

from __future__ import annotations

from typing import Any

from adapters.slack import texts
from adapters.slack.payloads import SubmittedView
from bot.commands import KeyInfo
from bot.prompts import MAX_PROMPT_CHARS
from bot.providers import Provider, ProviderList

SETKEY_CALLBACK = "byok_setkey"
KEY_BLOCK = "byok_key_block"
KEY_ACTION = "byok_key_input"
PROVIDER_BLOCK = "byok_provider_block"
PROVIDER_ACTION = "byok_provider_select"
HOME_SET_ACTION = "byok_home_setkey"
HOME_REMOVE_ACTION = "byok_home_removekey"

View = dict[str, Any]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown}}


def _provider_select(providers: ProviderList, chosen: Provider | None) -> dict[str, Any]:
    """Which provider the key is for: options from the operator's list only."""
    options = [
        {"text": _plain(provider.name[:75]), "value": provider.id} for provider in providers
    ][:100]
    initial = chosen or providers.default
    return {
        "type": "input",
        "block_id": PROVIDER_BLOCK,
        "label": _plain(texts.MODAL_PROVIDER_LABEL),
        "element": {
            "type": "static_select",
            "action_id": PROVIDER_ACTION,
            "options": options,
            "initial_option": next(o for o in options if o["value"] == initial.id),
        },
    }


def setkey_modal(providers: ProviderList | None = None, chosen: Provider | None = None) -> View:
    """The key's one text input; with several providers listed, a select of them above it."""
    several = providers is not None and providers.several
    key_input = {
        "type": "input",
        "block_id": KEY_BLOCK,
        "label": _plain(texts.MODAL_KEY_LABEL if several else texts.MODAL_LABEL),
        "hint": _plain(texts.MODAL_HINT),
        "element": {
            "type": "plain_text_input",
            "action_id": KEY_ACTION,
            "placeholder": _plain(texts.MODAL_PLACEHOLDER),
        },
    }
    blocks = [key_input]
    if several and providers is not None:
        blocks.insert(0, _provider_select(providers, chosen))
    return {
        "type": "modal",
        "callback_id": SETKEY_CALLBACK,
        "title": _plain(texts.MODAL_KEYS_TITLE if several else texts.MODAL_TITLE),
        "submit": _plain(texts.MODAL_SUBMIT),
        "close": _plain(texts.MODAL_CLOSE),
        "blocks": blocks,
    }


def submitted_provider(view: SubmittedView) -> str | None:
    """The provider chosen in the modal (checked against the list by the core), if any."""
    values = view.get("state", {}).get("values", {})
    selected = values.get(PROVIDER_BLOCK, {}).get(PROVIDER_ACTION, {}).get("selected_option")
    value = selected.get("value") if isinstance(selected, dict) else None
    return value if isinstance(value, str) else None


def submitted_key(view: SubmittedView) -> str:
    values = view.get("state", {}).get("values", {})
    value = values.get(KEY_BLOCK, {}).get(KEY_ACTION, {}).get("value")
    return value if isinstance(value, str) else ""


def modal_result(text: str) -> View:
    """What the modal turns into once the key is saved: the reply, which shows it only masked."""
    return {
        "type": "modal",
        "title": _plain(texts.MODAL_TITLE),
        "close": _plain(texts.MODAL_DONE),
        "blocks": [_section(text)],
    }


def _when(info: KeyInfo) -> str:
    used = info.last_used_at.strftime("%Y-%m-%d %H:%M UTC") if info.last_used_at else "never"
    return f"*Last used:* {used}\n*Model:* `{info.model}`"


def home_view(info: KeyInfo | None) -> View:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(texts.HOME_TITLE)},
        _section(texts.HOME_INTRO),
        {"type": "divider"},
    ]
    set_button: dict[str, Any] = {
        "type": "button",
        "action_id": HOME_SET_ACTION,
        "text": _plain(texts.HOME_SET if info is None else texts.HOME_REPLACE),
        "style": "primary",
    }
    if info is None:
        blocks.append(_section(texts.HOME_NO_KEY))
        blocks.append({"type": "actions", "elements": [set_button]})
        return {"type": "home", "blocks": blocks}
    blocks.append(
        _section(texts.key_status_line(info.masked, info.status == "valid") + "\n" + _when(info))
    )
    remove_button: dict[str, Any] = {
        "type": "button",
        "action_id": HOME_REMOVE_ACTION,
        "text": _plain(texts.HOME_REMOVE),
        "style": "danger",
        "confirm": {
            "title": _plain(texts.HOME_REMOVE_CONFIRM_TITLE),
            "text": _plain(texts.HOME_REMOVE_CONFIRM_TEXT),
            "confirm": _plain(texts.HOME_REMOVE_CONFIRM_YES),
            "deny": _plain(texts.HOME_REMOVE_CONFIRM_NO),
        },
    }
    blocks.append({"type": "actions", "elements": [set_button, remove_button]})
    return {"type": "home", "blocks": blocks}


INSTRUCTIONS_CALLBACK = "byok_instructions"
PROMPT_CALLBACK = "byok_prompt"
TEXT_BLOCK = "byok_text_block"
TEXT_ACTION = "byok_text_input"


def long_text_modal(
    *, callback_id: str, title: str, label: str, current: str | None, metadata: str = ""
) -> View:
    """One multiline input filled with the current text; left empty, it clears it."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": TEXT_ACTION,
        "multiline": True,
        "max_length": MAX_PROMPT_CHARS,
        "placeholder": _plain(texts.PROMPT_PLACEHOLDER),
    }
    if current:
        element["initial_value"] = current[:MAX_PROMPT_CHARS]
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": _plain(title),
        "submit": _plain(texts.MODAL_SUBMIT),
        "close": _plain(texts.MODAL_CLOSE),
        "blocks": [
            {
                "type": "input",
                "block_id": TEXT_BLOCK,
                "label": _plain(label),
                "optional": True,
                "element": element,
            }
        ],
    }


def submitted_text(view: SubmittedView) -> str:
    values = view.get("state", {}).get("values", {})
    value = values.get(TEXT_BLOCK, {}).get(TEXT_ACTION, {}).get("value")
    return value if isinstance(value, str) else ""


def text_result(title: str, text: str) -> View:
    return {
        "type": "modal",
        "title": _plain(title),
        "close": _plain(texts.MODAL_DONE),
        "blocks": [_section(text)],
    }
