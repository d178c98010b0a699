"""Building the slack-bolt AsyncApp and its Web API client from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.ask import AskListeners
from adapters.slack.bridge import Bridge
from adapters.slack.commands import CommandListeners
from adapters.slack.events import EventListeners
from adapters.slack.replay import ReplayGuard
from bot.ports import OnceLog

# The bot scopes slack-manifest.yml names (tests/slack checks they are the same): what an
# install through "Add to Slack" asks each workspace for.
BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
    "chat:write",
    "assistant:write",
    "commands",
    "files:read",
    "users:read",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthInstalls:
    """OAuth mode: what bolt's own install flow (AsyncOAuthFlow) needs."""

    client_id: str
    client_secret: str = field(repr=False)
    installations: AsyncInstallationStore
    states: AsyncOAuthStateStore

    def settings(self) -> AsyncOAuthSettings:
        return AsyncOAuthSettings(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=list(BOT_SCOPES),
            # No user token is asked for: the bot acts only as itself.
            user_scopes=[],
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            installation_store=self.installations,
            state_store=self.states,
        )


def web_client(*, token: str | None, api_url: str | None) -> AsyncWebClient:
    # slack_sdk joins the method name onto base_url as-is, so it must end with "/".
    client = (
        AsyncWebClient(token=token)
        if api_url is None
        else AsyncWebClient(token=token, base_url=api_url.rstrip("/") + "/")
    )
    # chat.update is Tier 3: a few answers at once in a workspace meet 429s. Slack's own
    # handler waits out its Retry-After before the sink gives the answer up.
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


def build_app(
    *,
    client: AsyncWebClient,
    signing_secret: str,
    bridge: Bridge,
    once: OnceLog,
    oauth: OAuthInstalls | None = None,
) -> AsyncApp:
    """The app with every listener registered; requests over HTTP must carry a valid signature,
    one signature is acted on once and one event answered once (`once`, the Store's "answer
    once", remembers both for every worker).

    Listeners acknowledge at once and hand slow work to the bridge's tracked tasks, so bolt
    can wait for them before it answers (`process_before_response`) without passing 3 s.

    With `oauth`, the client holds no token: bolt serves the install pages and, for each
    request, finds the bot token of the workspace (or org) it came from in `installations`.
    """
    app = AsyncApp(
        name="byok-bot",
        client=client,
        signing_secret=signing_secret,
        process_before_response=True,
        request_verification_enabled=True,
        oauth_settings=oauth.settings() if oauth is not None else None,
        user_facing_authorize_error_message=texts.NOT_INSTALLED if oauth is not None else None,
    )
    # Added after bolt's own middleware, so it sees only requests whose signature checked out
    # (and, in OAuth mode, that come from a workspace with an installation).
    app.use(ReplayGuard(seen=once))
    EventListeners(
        bridge, once=once, installations=oauth.installations if oauth is not None else None
    ).register(app)
    CommandListeners(bridge).register(app)
    AskListeners(bridge).register(app)
    return app
