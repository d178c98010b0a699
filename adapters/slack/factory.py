"""Building the Slack adapter from its settings: single-token mode or OAuth mode."""

from __future__ import annotations

from datetime import timedelta

from adapters.slack.app import OAuthInstalls, build_app, web_client
from adapters.slack.bridge import Bridge
from adapters.slack.files import FileDownloads
from adapters.slack.installations import (
    STATE_LIFETIME,
    SealedInstallationStore,
    StoredOAuthStateStore,
)
from adapters.slack.render import MESSAGE_LIMIT
from adapters.slack.runner import EventsEndpoint, SlackAdapter
from adapters.slack.settings import SlackSettings
from adapters.slack.sink import Pacing
from adapters.tasks import BackgroundTasks
from bot.core import ByokCore
from bot.ports import AdapterConfigError, InstallationRecords, OnceLog
from bot.vault import KeyVault

# Binding every interface is what Slack's HTTP mode needs behind a proxy or tunnel.
DEFAULT_HOST = "0.0.0.0"  # noqa: S104
DEFAULT_PORT = 3000


def create_slack_adapter(
    *,
    core: ByokCore,
    settings: SlackSettings,
    once: OnceLog,
    installs: InstallationRecords | None = None,
    vault: KeyVault | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    endpoint: EventsEndpoint | None = None,
    min_update_interval: float = 1.0,
    message_limit: int = MESSAGE_LIMIT,
    ack_budget: float = 2.5,
    install_lifetime: timedelta = STATE_LIFETIME,
) -> SlackAdapter:
    """The adapter for `byok-bot run`; raises AdapterConfigError naming a missing setting.
    `once` (the Store) remembers signed requests and answered events for every worker.

    Single-token mode serves the one workspace of SLACK_BOT_TOKEN. OAuth mode
    (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET) serves every workspace installed through
    "Add to Slack"; its installations go into `installs` (the Store), sealed by `vault`.

    In HTTP mode the events path is served on `endpoint` when given (the process's one HTTP
    server), else on a server of the adapter's own at `host`:`port`."""
    app_token = settings.app_token.get_secret_value() if settings.app_token else None
    if app_token is not None and not app_token.startswith("xapp-"):
        raise AdapterConfigError(
            "SLACK_APP_TOKEN: must be an app-level token starting with xapp- (Socket Mode)"
        )
    secret = settings.signing_secret
    oauth = _oauth_installs(
        settings, app_token=app_token, installs=installs, vault=vault, lifetime=install_lifetime
    )
    token: str | None = None
    if oauth is None:
        if settings.bot_token is None:
            raise AdapterConfigError("SLACK_BOT_TOKEN: required for the Slack adapter")
        token = settings.bot_token.get_secret_value()
        if not token.startswith("xoxb-"):
            raise AdapterConfigError("SLACK_BOT_TOKEN: must be a bot token starting with xoxb-")
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
        files=FileDownloads(api_url=settings.api_url),
    )
    app = build_app(
        client=web_client(token=token, api_url=settings.api_url),
        # Socket Mode requests skip the signature check: the socket itself is authenticated.
        signing_secret=secret.get_secret_value() if secret else "",
        bridge=bridge,
        once=once,
        oauth=oauth,
    )
    return SlackAdapter(
        app=app,
        tasks=tasks,
        app_token=app_token,
        host=host,
        port=port,
        endpoint=endpoint,
    )


def _oauth_installs(
    settings: SlackSettings,
    *,
    app_token: str | None,
    installs: InstallationRecords | None,
    vault: KeyVault | None,
    lifetime: timedelta,
) -> OAuthInstalls | None:
    """OAuth mode's stores, or None in single-token mode; a setting that does not fit
    either mode is refused in one line."""
    if not settings.oauth:
        return None
    if settings.bot_token is not None:
        raise AdapterConfigError(
            "SLACK_BOT_TOKEN: set together with SLACK_CLIENT_ID/SLACK_CLIENT_SECRET; unset "
            'SLACK_BOT_TOKEN to serve many workspaces through "Add to Slack" (OAuth mode), '
            "or unset the other two to serve the one workspace of that token"
        )
    if settings.client_id is None or settings.client_secret is None:
        missing = "SLACK_CLIENT_ID" if settings.client_id is None else "SLACK_CLIENT_SECRET"
        raise AdapterConfigError(
            f"{missing}: required in OAuth mode (copy it from your Slack app's Basic "
            "Information page, App Credentials)"
        )
    if app_token is not None:
        raise AdapterConfigError(
            "SLACK_APP_TOKEN: OAuth mode serves its install pages and events over HTTP; "
            "unset SLACK_APP_TOKEN (and set the app's Request URLs, see slack-manifest.yml)"
        )
    if installs is None or vault is None:
        raise AdapterConfigError("OAuth mode needs the database and the master keys")
    return OAuthInstalls(
        client_id=settings.client_id.get_secret_value(),
        client_secret=settings.client_secret.get_secret_value(),
        installations=SealedInstallationStore(records=installs, vault=vault),
        states=StoredOAuthStateStore(records=installs, lifetime=lifetime),
    )
