"""Building the slack-bolt AsyncApp and its Web API client from the settings."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.bridge import Bridge
from adapters.slack.commands import CommandListeners
from adapters.slack.events import EventListeners
from adapters.slack.replay import ReplayGuard
from bot.ports import OnceLog


def web_client(*, token: str, api_url: str | None) -> AsyncWebClient:
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
    *, client: AsyncWebClient, signing_secret: str, bridge: Bridge, once: OnceLog
) -> AsyncApp:
    """The app with every listener registered; requests over HTTP must carry a valid signature,
    one signature is acted on once and one event answered once (`once`, the Store's "answer
    once", remembers both for every worker).

    Listeners acknowledge at once and hand slow work to the bridge's tracked tasks, so bolt
    can wait for them before it answers (`process_before_response`) without passing 3 s.
    """
    app = AsyncApp(
        name="byok-bot",
        client=client,
        signing_secret=signing_secret,
        process_before_response=True,
        request_verification_enabled=True,
    )
    # Added after bolt's own middleware, so it sees only requests whose signature checked out.
    app.use(ReplayGuard(seen=once))
    EventListeners(bridge, once=once).register(app)
    CommandListeners(bridge).register(app)
    return app
