"""Refusing to act twice on one signed request.

A signature proves Slack sent a request, not that it is the first time anyone sent it:
whoever captured one (a log, a proxy, a compromised host in between) can post it again for
five minutes, the age bolt accepts. Slack never sends the same signature twice (a retry is
signed anew), so a repeat is a replay: it is acknowledged (200, empty) and not handled."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.ports import OnceLog, StoreError

log = logging.getLogger(__name__)

# How far a request's timestamp may be from now, either way, for bolt to accept it.
SIGNATURE_WINDOW = timedelta(minutes=5)


class ReplayGuard(AsyncMiddleware):
    """Registered after bolt's signature check, so only requests Slack really signed are
    remembered (forged ones cannot fill the log)."""

    def __init__(
        self, *, seen: OnceLog, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._seen = seen
        self._clock = clock

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        if req.mode == "socket_mode":
            return await next()  # the socket is authenticated; nothing is signed
        timestamp = req.headers.get("x-slack-request-timestamp", [""])[0]
        signature = req.headers.get("x-slack-signature", [""])[0]
        try:
            signed_at = datetime.fromtimestamp(int(timestamp), UTC)
        except (ValueError, OverflowError, OSError):
            return BoltResponse(status=401, body={"error": "invalid request"})
        try:
            first = await self._seen.first_time(
                f"slack:{timestamp}:{signature}",
                now=self._clock(),
                until=signed_at + SIGNATURE_WINDOW + timedelta(seconds=1),
            )
        except StoreError:
            # Let through: whatever a replay could do (set or remove a key, answer) needs a
            # write to the same database, which is failing too.
            log.warning("a signed Slack request could not be remembered", exc_info=True)
            first = True
        if not first:
            # A 200 rather than an error: the replayer learns nothing new, and a proxy that
            # re-sent a request is not made to retry again. Nothing of the request is logged.
            log.warning("a signed Slack request arrived a second time; ignored as a replay")
            return BoltResponse(status=200, body="")
        return await next()
