"""The fields of Slack's payloads this adapter reads, typed; Slack sends many more.

`total=False`: Slack omits what does not apply (no `thread_ts` outside a thread, no
`subtype` on a plain message), so every read still says what it does when a field is absent.
"""

from __future__ import annotations

from typing import Any, TypedDict


class MessageEvent(TypedDict, total=False):
    """`message` and `app_mention` events, and messages in conversations.history/replies."""

    type: str
    subtype: str
    user: str
    bot_id: str
    text: str
    ts: str
    thread_ts: str
    channel: str
    channel_type: str
    team: str
    # message_changed carries the edited message here.
    message: MessageEvent
    # Files shared with the message (file objects: name, mimetype, size, url_private...).
    files: list[dict[str, Any]]


class HomeOpenedEvent(TypedDict, total=False):
    type: str
    user: str
    tab: str


class RevokedTokens(TypedDict, total=False):
    oauth: list[str]
    bot: list[str]


class UninstallEvent(TypedDict, total=False):
    """`app_uninstalled` and `tokens_revoked`."""

    type: str
    tokens: RevokedTokens


class EventEnvelope(TypedDict, total=False):
    """The body of an Events API request around its `event`."""

    event_id: str
    team_id: str
    enterprise_id: str


class SlashCommand(TypedDict, total=False):
    command: str
    text: str
    user_id: str
    channel_id: str
    trigger_id: str
    response_url: str


class PayloadUser(TypedDict, total=False):
    id: str
    team_id: str


class ViewState(TypedDict, total=False):
    # block id -> action id -> the element's state (`value` for a text input).
    values: dict[str, dict[str, dict[str, Any]]]


class SubmittedView(TypedDict, total=False):
    id: str
    callback_id: str
    private_metadata: str
    state: ViewState


class InteractionBody(TypedDict, total=False):
    """`view_submission` and `block_actions` request bodies."""

    type: str
    user: PayloadUser
    trigger_id: str
    view: SubmittedView
