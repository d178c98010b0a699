"""Slack's OAuth install flow as an installer's browser goes through it: the "Add to Slack"
page (its link and the state cookie), Slack's approval (the fake's code), the redirect back."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from tests.fakes.slack import FakeSlack
from tests.slack.requests import Answer, SlackSender

# bolt's default name for the cookie that ties the redirect to the browser that began.
COOKIE = "slack-app-oauth-state"


@dataclass
class Installed:
    team: str
    token: str
    sender: SlackSender


@dataclass
class InstallPage:
    status: int
    html: str
    # The state in the "Add to Slack" link, and the one in the cookie set for the browser.
    link_state: str
    cookie_state: str
    scopes: list[str]


class Browser:
    """An installer's browser going through "Add to Slack" on a running byok-bot at `base`,
    with the fake Slack approving each install."""

    def __init__(self, base: str, fake: FakeSlack) -> None:
        self.base = base
        self.fake = fake

    async def get(self, path: str, *, cookie: str | None = None) -> tuple[int, str, Any]:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.base}{path}", headers=headers, allow_redirects=False) as response,
        ):
            return response.status, await response.text(), response.headers

    async def install_page(self) -> InstallPage:
        status, text, headers = await self.get("/slack/install")
        (cookie,) = [c for c in headers.getall("Set-Cookie") if c.startswith(f"{COOKIE}=")]
        match = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', text)
        assert match is not None, text
        query = parse_qs(urlsplit(html.unescape(match.group(1))).query, keep_blank_values=True)
        return InstallPage(
            status=status,
            html=text,
            link_state=query["state"][0],
            cookie_state=cookie.split(";", 1)[0].split("=", 1)[1],
            scopes=query["scope"][0].split(","),
        )

    async def redirect(self, *, code: str, state: str, cookie: str | None) -> Answer:
        """The installer's browser coming back from Slack with the code."""
        query = urlencode({"code": code, "state": state})
        status, text, _ = await self.get(f"/slack/oauth_redirect?{query}", cookie=cookie)
        return Answer(status, text)

    async def install(self, team: str, **grid: Any) -> Installed:
        page = await self.install_page()
        code = self.fake.authorize(team, **grid)
        token = self.fake.codes[code].bot_token
        done = await self.redirect(code=code, state=page.link_state, cookie=page.cookie_state)
        assert done.status == 200, done.text
        sender = SlackSender(f"{self.base}/slack/events", team=team, **_sender_grid(grid))
        return Installed(team, token, sender)


def _sender_grid(grid: dict[str, Any]) -> dict[str, Any]:
    return {
        "enterprise": grid.get("enterprise"),
        "org_install": grid.get("org_install", False),
    }
