"""Signed requests, as Slack sends them, to the bot's real HTTP endpoint."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack.server import APP_ID, TEAM

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
CHANNEL = "C0001"
DM = "D0001"
_ids = itertools.count(1)


def sign(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Answer:
    status: int
    text: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.text) if self.text else {}


@dataclass(frozen=True)
class SignedRequest:
    """One request exactly as it went over the wire, for replaying it."""

    body: str
    content_type: str
    timestamp: int
    signature: str


class SlackSender:
    """Posts signed requests to the adapter's endpoint, like Slack's servers do."""

    def __init__(
        self,
        url: str,
        *,
        team: str = TEAM,
        enterprise: str | None = None,
        org_install: bool = False,
    ) -> None:
        self.url = url
        self.team = team
        self.enterprise = enterprise
        # The app was installed org-wide on Enterprise Grid (one install for every workspace).
        self.org_install = org_install
        # Every request posted, oldest first: what an eavesdropper could have captured.
        self.sent: list[SignedRequest] = []

    async def replay(self, request: SignedRequest) -> Answer:
        """The same bytes, timestamp and signature again, as an attacker who captured them."""
        return await self.post(
            request.body,
            request.content_type,
            timestamp=request.timestamp,
            signature=request.signature,
        )

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Answer:
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = signature or sign(body, stamp)
        self.sent.append(SignedRequest(body, content_type, stamp, signature))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": signature,
        }
        async with aiohttp.ClientSession() as session:
            async with session.post(self.url, data=body.encode(), headers=headers) as response:
                return Answer(response.status, await response.text())

    def event_body(self, event: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token": "legacy-token",
            "team_id": self.team,
            "api_app_id": APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{next(_ids):04d}",
            "event_time": int(time.time()),
            "event": event,
        }
        if self.enterprise:
            body["enterprise_id"] = self.enterprise
        if self.org_install:
            body["is_enterprise_install"] = True
        return body

    async def event(self, event: dict[str, Any], **signing: Any) -> Answer:
        return await self.post(json.dumps(self.event_body(event)), "application/json", **signing)

    async def command(
        self, command: str, text: str = "", *, user: str, channel: str = CHANNEL, response_url: str
    ) -> Answer:
        form = {
            "token": "legacy-token",
            "team_id": self.team,
            "channel_id": channel,
            "user_id": user,
            "command": command,
            "text": text,
            "response_url": response_url,
            "trigger_id": f"trigger-{next(_ids)}",
            "api_app_id": APP_ID,
        }
        if self.enterprise:
            form["enterprise_id"] = self.enterprise
        if self.org_install:
            form["is_enterprise_install"] = "true"
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    async def interaction(self, payload: dict[str, Any]) -> Answer:
        payload = {
            "team": {"id": self.team, "domain": "fake"},
            "api_app_id": APP_ID,
            "token": "legacy-token",
            **payload,
        }
        if self.enterprise:
            payload["enterprise"] = {"id": self.enterprise, "name": "Grid"}
        if self.org_install:
            payload["is_enterprise_install"] = True
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def submit_key(self, user: str, key: str, *, provider: str | None = None) -> Answer:
        """The /setkey modal submitted; `provider`: the option chosen in its provider select."""
        from adapters.slack.views import (
            KEY_ACTION,
            KEY_BLOCK,
            PROVIDER_ACTION,
            PROVIDER_BLOCK,
            SETKEY_CALLBACK,
        )

        values: dict[str, Any] = {
            KEY_BLOCK: {KEY_ACTION: {"type": "plain_text_input", "value": key}}
        }
        if provider is not None:
            values[PROVIDER_BLOCK] = {
                PROVIDER_ACTION: {
                    "type": "static_select",
                    "selected_option": {
                        "text": {"type": "plain_text", "text": provider},
                        "value": provider,
                    },
                }
            }
        return await self.interaction(
            {
                "type": "view_submission",
                "user": {"id": user, "team_id": self.team},
                "trigger_id": f"trigger-{next(_ids)}",
                "view": {
                    "id": "V0001",
                    "type": "modal",
                    "callback_id": SETKEY_CALLBACK,
                    "state": {"values": values},
                    "private_metadata": "",
                },
            }
        )


def mention(user: str, text: str, ts: str, *, thread_ts: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "team": TEAM,
        "event_ts": ts,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


def channel_message(user: str, text: str, ts: str) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": CHANNEL,
        "team": TEAM,
        "event_ts": ts,
    }


def direct_message(user: str, text: str, ts: str) -> dict[str, Any]:
    return {**channel_message(user, text, ts), "channel_type": "im", "channel": DM}
