"""The Slack adapter: slack-bolt's AsyncApp translating Slack into the core's calls.

Names are loaded when first used (PEP 562): reading the Slack settings (app/settings.py does,
whatever platforms are configured) must not import slack_bolt and its dependencies."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.slack.factory import create_slack_adapter
    from adapters.slack.runner import EVENTS_PATH, EventsEndpoint, SlackAdapter

__all__ = ["EVENTS_PATH", "EventsEndpoint", "SlackAdapter", "create_slack_adapter"]

_HOMES = {
    "EVENTS_PATH": "adapters.slack.runner",
    "EventsEndpoint": "adapters.slack.runner",
    "SlackAdapter": "adapters.slack.runner",
    "create_slack_adapter": "adapters.slack.factory",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
