"""The Slack adapter: slack-bolt's AsyncApp translating Slack into the core's calls."""

from __future__ import annotations

from adapters.slack.app import build_app, web_client
from adapters.slack.bridge import Bridge
from adapters.slack.render import MESSAGE_LIMIT
from adapters.slack.runner import EVENTS_PATH, EventsEndpoint, SlackAdapter
from adapters.slack.settings import SlackSettings
from adapters.slack.sink import Pacing
from adapters.tasks import BackgroundTasks
from bot.core import ByokCore
from bot.ports import AdapterConfigError, OnceLog

__all__ = ["EVENTS_PATH", "EventsEndpoint", "SlackAdapter", "create_slack_adapter"]

# Binding every interface is what Slack's HTTP mode needs behind a proxy or tunnel.
DEFAULT_HOST = "0.0.0.0"  # noqa: S104
DEFAULT_PORT = 3000


def create_slack_adapter(
    *,
    core: ByokCore,
    settings: SlackSettings,
    once: OnceLog,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    endpoint: EventsEndpoint | None = None,
    min_update_interval: float = 1.0,
    message_limit: int = MESSAGE_LIMIT,
    ack_budget: float = 2.5,
) -> SlackAdapter:
    """The adapter for `byok-bot run`; raises AdapterConfigError naming a missing setting.
    `once` (the Store) remembers signed requests and answered events for every worker.

    In HTTP mode the events path is served on `endpoint` when given (the process's one HTTP
    server), else on a server of the adapter's own at `host`:`port`."""
    if settings.bot_token is None:
        raise AdapterConfigError("SLACK_BOT_TOKEN: required for the Slack adapter")
    token = settings.bot_token.get_secret_value()
    if not token.startswith("xoxb-"):
        raise AdapterConfigError("SLACK_BOT_TOKEN: must be a bot token starting with xoxb-")
    app_token = settings.app_token.get_secret_value() if settings.app_token else None
    if app_token is not None and not app_token.startswith("xapp-"):
        raise AdapterConfigError(
            "SLACK_APP_TOKEN: must be an app-level token starting with xapp- (Socket Mode)"
        )
    secret = settings.signing_secret
    if app_token is None and secret is None:
        raise AdapterConfigError(
            "SLACK_SIGNING_SECRET: required in HTTP mode (copy it from your Slack app's "
            "Basic Information page, or set SLACK_APP_TOKEN to use Socket Mode)"
        )
    tasks = BackgroundTasks()
    bridge = Bridge(
        core=core,
        tasks=tasks,
        pacing=Pacing(min_interval=min_update_interval, message_limit=message_limit),
        ack_budget=ack_budget,
    )
    app = build_app(
        client=web_client(token=token, api_url=settings.api_url),
        # Socket Mode requests skip the signature check: the socket itself is authenticated.
        signing_secret=secret.get_secret_value() if secret else "",
        bridge=bridge,
        once=once,
    )
    return SlackAdapter(
        app=app,
        tasks=tasks,
        app_token=app_token,
        host=host,
        port=port,
        endpoint=endpoint,
    )
