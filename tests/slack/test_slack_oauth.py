"""OAuth mode: one byok-bot installed by many workspaces through "Add to Slack", driven over
the wire: bolt's own install page and redirect on the process's HTTP server, the fake Slack's
oauth.v2.access, signed events from each workspace, the real Store on both engines."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from adapters.slack import SlackAdapter, create_slack_adapter
from adapters.slack.app import BOT_SCOPES
from adapters.slack.installations import installation_key, vault_owner
from app.http import HttpServer
from app.metrics import CONTENT_TYPE
from app.services import Services
from bot.audit import AuditEvent
from bot.domain import Member
from bot.ports import InstallationKey, InstallationRecords
from bot.vault import KeyVault
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import make_key
from tests.fakes.faults import FailingStore
from tests.fakes.files import PNG, data_url
from tests.fakes.openai_server import FakeOpenAI, image_parts
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import SlackFile
from tests.slack.conftest import oauth_settings
from tests.slack.installs import Browser, Installed
from tests.slack.requests import SlackSender

TEAM_A = "TAAAA"
TEAM_B = "TBBBB"
CHANNEL_A = "CAAAA"
CHANNEL_B = "CBBBB"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, db_path: Path) -> str:
    """Every test here on both engines: installations live in the Store."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{db_path}"


class OAuthBot(Browser):
    """The process's HTTP server with the adapter attached, as the installer's browser and
    Slack's servers meet it."""

    def __init__(self, *, server: HttpServer, adapter: SlackAdapter, fake: FakeSlack) -> None:
        super().__init__(f"http://127.0.0.1:{server.port}", fake)
        self.server = server
        self.adapter = adapter

    async def close(self) -> None:
        await self.adapter.close()
        await self.server.close()


@pytest.fixture
async def oauth_bot(services: Services, fake_slack: FakeSlack) -> AsyncIterator[OAuthBot]:
    bot = await _start(services, fake_slack)
    yield bot
    await bot.close()


async def _start(
    services: Services,
    fake: FakeSlack,
    *,
    settings: dict[str, Any] | None = None,
    installs: InstallationRecords | None = None,
    **options: Any,
) -> OAuthBot:
    """The process's HTTP server with the adapter attached, as `byok-bot run` wires them;
    `settings` change the Slack settings, `options` are create_slack_adapter's."""

    async def nothing_waited_for() -> list[str]:
        return []

    server = HttpServer(
        host="127.0.0.1",
        port=0,
        waiting_for=nothing_waited_for,
        metrics=services.metrics.exposition,
        metrics_content_type=CONTENT_TYPE,
        serves_slack=True,
    )
    await server.start()
    adapter = create_slack_adapter(
        core=services.core,
        settings=oauth_settings(services, fake, **(settings or {})),
        once=services.store,
        installs=installs or services.store,
        vault=services.vault,
        endpoint=server,
        min_update_interval=0.0,
        **options,
    )
    await adapter.start()
    return OAuthBot(server=server, adapter=adapter, fake=fake)


def mention_in(team: str, channel: str, user: str, text: str, ts: str) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": channel,
        "team": team,
        "event_ts": ts,
    }


async def set_key(bot: OAuthBot, where: Installed, user: str, fake_openai: FakeOpenAI) -> str:
    """Through the /setkey modal, as a member of that workspace."""
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    submitted = await where.sender.submit_key(user, key)
    await bot.adapter.wait_idle()
    assert submitted.status == 200 and "is saved and sealed" in submitted.text, submitted.text
    return key


async def ask(bot: OAuthBot, where: Installed, channel: str, user: str, text: str) -> str:
    ts = bot.fake.add_member_message(channel, user, f"<@UBOT> {text}")
    answer = await where.sender.event(mention_in(where.team, channel, user, text, ts))
    assert answer.status == 200
    await bot.adapter.wait_idle()
    return ts


def tokens_by_channel(fake: FakeSlack, *methods: str) -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for method in methods:
        for call in fake.calls_to(method):
            found.setdefault(str(call.args.get("channel")), set()).add(call.token)
    return found


def current(team: str) -> InstallationKey:
    return installation_key(enterprise_id=None, team_id=team)


async def test_two_workspaces_install_and_each_is_served_with_its_own_token_and_key(
    oauth_bot: OAuthBot, fake_slack: FakeSlack, fake_openai: FakeOpenAI, services: Services
) -> None:
    page = await oauth_bot.install_page()
    assert page.status == 200 and "Add to Slack" in page.html
    assert page.link_state == page.cookie_state
    assert page.scopes == list(BOT_SCOPES)

    a = await oauth_bot.install(TEAM_A)
    b = await oauth_bot.install(TEAM_B)
    assert a.token != b.token
    # The code was exchanged with the app's own credentials (the fake checks them).
    assert len(fake_slack.calls_to("oauth.v2.access")) == 2

    alice_key = await set_key(oauth_bot, a, "UALICE", fake_openai)
    bob_key = await set_key(oauth_bot, b, "UBOB", fake_openai)
    # Each key belongs to the member of its own workspace, and to nobody elsewhere.
    assert await services.store.get_key(Member("slack", TEAM_A, "UALICE")) is not None
    assert await services.store.get_key(Member("slack", TEAM_B, "UBOB")) is not None
    assert await services.store.get_key(Member("slack", TEAM_B, "UALICE")) is None

    await ask(oauth_bot, a, CHANNEL_A, "UALICE", "question from A")
    await ask(oauth_bot, b, CHANNEL_B, "UBOB", "question from B")

    # Every answer went out with its own workspace's bot token...
    streamed = ("chat.startStream", "chat.appendStream", "chat.stopStream")
    assert tokens_by_channel(fake_slack, *streamed) == {
        CHANNEL_A: {a.token},
        CHANNEL_B: {b.token},
    }
    assert fake_slack.bot_replies(CHANNEL_A, fake_slack.messages[CHANNEL_A][0]["ts"])
    assert fake_slack.bot_replies(CHANNEL_B, fake_slack.messages[CHANNEL_B][0]["ts"])
    homes = {call.args["user_id"]: call.token for call in fake_slack.calls_to("views.publish")}
    assert homes == {"UALICE": a.token, "UBOB": b.token}
    # ...and every Web API call of the bot carried one of the installed tokens, never none.
    assert {call.token for call in fake_slack.calls if call.method != "oauth.v2.access"} <= {
        a.token,
        b.token,
    }
    # ...and was paid with its own member's key.
    paid = {
        str(request.body["messages"][-1]["content"]): request.authorization
        for request in fake_openai.chat_requests()
        if request.body is not None
    }
    assert paid == {
        "[UALICE]: question from A": f"Bearer {alice_key}",
        "[UBOB]: question from B": f"Bearer {bob_key}",
    }


async def test_installation_tokens_are_sealed_and_rotate_master_key_reseals_them(
    oauth_bot: OAuthBot,
    services: Services,
    database_url: str,
    db_path: Path,
    master_key: str,
    tmp_path: Path,
) -> None:
    a = await oauth_bot.install(TEAM_A)
    stored = await services.store.find_installation(current(TEAM_A))
    assert stored is not None and a.token.encode() not in stored.sealed
    # Sealed to where it was installed: it opens for team A only.
    assert a.token in services.vault.open(vault_owner(current(TEAM_A)), stored.sealed)
    with pytest.raises(Exception, match="another member"):
        services.vault.open(vault_owner(current(TEAM_B)), stored.sealed)
    assert a.token.encode() not in await _everything_stored(database_url, db_path)

    (tmp_path / ".env").write_text(f"BYOK_MASTER_KEYS={master_key}\nDATABASE_URL={database_url}\n")
    code, out, err = await run_cli("rotate-master-key", "--generate", cwd=tmp_path)
    assert code == 0, err
    # The workspace's current installation and its installer's own.
    assert "Re-sealed 2 keys" in out
    new_key = (tmp_path / ".env").read_text().split("BYOK_MASTER_KEYS=", 1)[1].split(",")[0]
    resealed = await services.store.find_installation(current(TEAM_A))
    assert resealed is not None and resealed.sealed != stored.sealed
    only_new = KeyVault(master_keys=[new_key.strip()])
    assert a.token in only_new.open(vault_owner(current(TEAM_A)), resealed.sealed)
    assert a.token.encode() not in await _everything_stored(database_url, db_path)


async def _everything_stored(database_url: str, db_path: Path) -> bytes:
    """Every byte the database holds: the SQLite files, or every row of every table."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(db_path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return b"".join(
            Path(f"{db_path}{suffix}").read_bytes()
            for suffix in ("", "-wal")
            if Path(f"{db_path}{suffix}").exists()
        )
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        dump = [
            repr(list(row.values()))
            for table in tables
            for row in await connection.fetch(f'SELECT * FROM "{table["tablename"]}"')  # noqa: S608
        ]
    finally:
        await connection.close()
    return "\n".join(dump).encode()


async def test_a_tampered_replayed_or_expired_state_installs_nothing(
    services: Services, fake_slack: FakeSlack
) -> None:
    bot = await _start(services, fake_slack, install_lifetime=timedelta(seconds=600))
    try:
        # The state in the link changed on the way: it no longer matches the cookie.
        page = await bot.install_page()
        tampered = await bot.redirect(
            code=fake_slack.authorize(TEAM_A),
            state=page.link_state[:-2] + "xx",
            cookie=page.cookie_state,
        )
        assert tampered.status == 400
        # A state made up by someone, in the link and the cookie alike: never issued.
        forged = await bot.redirect(
            code=fake_slack.authorize(TEAM_A), state="made-up", cookie="made-up"
        )
        assert forged.status == 401
        # No cookie at all (another browser than the one that began the install).
        page = await bot.install_page()
        elsewhere = await bot.redirect(
            code=fake_slack.authorize(TEAM_A), state=page.link_state, cookie=None
        )
        assert elsewhere.status == 400
        assert fake_slack.calls_to("oauth.v2.access") == []

        # A state used once is used up, by this worker or any other.
        page = await bot.install_page()
        first = await bot.redirect(
            code=fake_slack.authorize(TEAM_A), state=page.link_state, cookie=page.cookie_state
        )
        assert first.status == 200
        replayed = await bot.redirect(
            code=fake_slack.authorize(TEAM_B), state=page.link_state, cookie=page.cookie_state
        )
        assert replayed.status == 401
        assert len(fake_slack.calls_to("oauth.v2.access")) == 1
        assert await services.store.find_installation(current(TEAM_B)) is None
    finally:
        await bot.close()

    # An install that took longer than the state lives.
    late = await _start(services, fake_slack, install_lifetime=timedelta(seconds=-1))
    try:
        page = await late.install_page()
        expired = await late.redirect(
            code=fake_slack.authorize(TEAM_B), state=page.link_state, cookie=page.cookie_state
        )
        assert expired.status == 401
        assert await services.store.find_installation(current(TEAM_B)) is None
    finally:
        await late.close()


async def test_a_code_slack_did_not_issue_installs_nothing(
    oauth_bot: OAuthBot, fake_slack: FakeSlack, services: Services
) -> None:
    page = await oauth_bot.install_page()
    refused = await oauth_bot.redirect(
        code="code-nobody-issued", state=page.link_state, cookie=page.cookie_state
    )
    assert refused.status == 401
    assert await services.store.find_installation(current(TEAM_A)) is None


async def test_a_wrong_client_secret_installs_nothing(
    services: Services, fake_slack: FakeSlack
) -> None:
    bot = await _start(services, fake_slack, settings={"client_secret": SecretStr("not-it")})
    try:
        page = await bot.install_page()
        refused = await bot.redirect(
            code=fake_slack.authorize(TEAM_A), state=page.link_state, cookie=page.cookie_state
        )
    finally:
        await bot.close()
    assert refused.status == 401
    assert fake_slack.installed == {}
    assert await services.store.find_installation(current(TEAM_A)) is None
    # The secret went only to oauth.v2.access, as HTTP Basic credentials.
    (call,) = fake_slack.calls_to("oauth.v2.access")
    assert "not-it" not in call.raw and str(call.authorization).startswith("Basic ")


async def test_a_database_failing_during_an_install_stores_nothing_and_the_next_try_works(
    services: Services, fake_slack: FakeSlack
) -> None:
    failing = FailingStore(services.store)
    bot = await _start(services, fake_slack, installs=failing)
    try:
        # The state cannot be remembered: no page, so no install that could never finish.
        failing.fail_state = True
        status, _, _ = await bot.get("/slack/install")
        assert status == 500
        failing.fail_state = False
        # The installation cannot be saved: bolt's failure page, nothing half-saved.
        page = await bot.install_page()
        failing.fail_writes = True
        failed = await bot.redirect(
            code=fake_slack.authorize(TEAM_A), state=page.link_state, cookie=page.cookie_state
        )
        assert failed.status == 500 and "xoxb-" not in failed.text
        failing.fail_writes = False
        assert await services.store.find_installation(current(TEAM_A)) is None
        # The database is back: the admin tries again, and it works.
        installed = await bot.install(TEAM_A)
        stored = await services.store.find_installation(current(TEAM_A))
        assert stored is not None
        assert installed.token in services.vault.open(vault_owner(current(TEAM_A)), stored.sealed)
    finally:
        await bot.close()


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}},
    ],
)
async def test_uninstalling_one_workspace_leaves_the_other_serving(
    oauth_bot: OAuthBot,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
    caplog: pytest.LogCaptureFixture,
    event: dict[str, Any],
) -> None:
    a = await oauth_bot.install(TEAM_A)
    b = await oauth_bot.install(TEAM_B)
    await set_key(oauth_bot, a, "UALICE", fake_openai)
    bob_key = await set_key(oauth_bot, b, "UBOB", fake_openai)

    assert (await a.sender.event(event)).status == 200
    await oauth_bot.adapter.wait_idle()

    for key in (
        current(TEAM_A),
        installation_key(enterprise_id=None, team_id=TEAM_A, user_id="UINSTALLER"),
    ):
        assert await services.store.find_installation(key) is None
    assert await services.store.get_key(Member("slack", TEAM_A, "UALICE")) is None
    events = await services.store.audit_events()
    left = [event for event in events if event.workspace == TEAM_A]
    assert [(e.event, e.user) for e in left] == [(AuditEvent.WORKSPACE_FORGOTTEN.value, None)]

    # B still answers, with its own token and key.
    await ask(oauth_bot, b, CHANNEL_B, "UBOB", "still there?")
    assert tokens_by_channel(fake_slack, "chat.startStream") == {CHANNEL_B: {b.token}}
    assert fake_openai.chat_requests()[-1].authorization == f"Bearer {bob_key}"

    # A is not answered any more: a signed event from there gets no reply, only a log line.
    before = len(fake_slack.calls)
    with caplog.at_level(logging.WARNING, logger="adapters.slack.installations"):
        await ask(oauth_bot, a, CHANNEL_A, "UALICE", "hello?")
    assert [c.method for c in fake_slack.calls[before:]] == []
    assert f"no installation for team {TEAM_A}" in caplog.text


async def test_a_signed_event_from_a_team_never_installed_gets_no_answer_and_a_log_line(
    oauth_bot: OAuthBot,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await oauth_bot.install(TEAM_A)
    # A key stored for that team (say, from before an uninstall that failed half-way).
    stranger = Member("slack", "TNEVER", "UEVE")
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    assert (await services.commands.set_key(stranger, key)).ok
    calls_before = len(fake_slack.calls)
    sender = SlackSender(f"{oauth_bot.base}/slack/events", team="TNEVER")
    with caplog.at_level(logging.WARNING, logger="adapters.slack.installations"):
        ts = fake_slack.add_member_message("CEVE", "UEVE", "<@UBOT> hi")
        answer = await sender.event(mention_in("TNEVER", "CEVE", "UEVE", "hi", ts))
        await oauth_bot.adapter.wait_idle()
    assert answer.status == 200
    assert fake_slack.calls[calls_before:] == []
    assert fake_openai.chat_requests() == []
    assert "no installation for team TNEVER; the request is not answered" in caplog.text


async def test_an_org_wide_grid_install_serves_every_workspace_of_the_org(
    oauth_bot: OAuthBot, fake_slack: FakeSlack, fake_openai: FakeOpenAI, services: Services
) -> None:
    grid = await oauth_bot.install("TGRID1", enterprise="EORG", org_install=True)
    assert await services.store.find_installation(
        installation_key(enterprise_id="EORG", team_id=None, is_enterprise_install=True)
    )
    # A member in one workspace of the org sets a key; it belongs to the org (as before).
    key = await set_key(oauth_bot, grid, "UCAROL", fake_openai)
    assert await services.store.get_key(Member("slack", "EORG", "UCAROL")) is not None
    await ask(oauth_bot, grid, "CGRID", "UCAROL", "from the org")
    assert tokens_by_channel(fake_slack, "chat.startStream") == {"CGRID": {grid.token}}
    assert fake_openai.chat_requests()[-1].authorization == f"Bearer {key}"

    assert (await grid.sender.event({"type": "app_uninstalled"})).status == 200
    await oauth_bot.adapter.wait_idle()
    assert (
        await services.store.find_installation(
            installation_key(enterprise_id="EORG", team_id=None, is_enterprise_install=True)
        )
        is None
    )
    assert await services.store.get_key(Member("slack", "EORG", "UCAROL")) is None


async def test_a_file_in_an_installed_workspace_is_read_with_that_workspaces_token(
    oauth_bot: OAuthBot, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    a = await oauth_bot.install(TEAM_A)
    b = await oauth_bot.install(TEAM_B)
    await set_key(oauth_bot, a, "UALICE", fake_openai)
    photo = fake_slack.share(SlackFile("FA", "a.png", PNG, "image/png", team=TEAM_A))
    ts = fake_slack.add_member_message(CHANNEL_A, "UALICE", "<@UBOT> what is it")
    event = {**mention_in(TEAM_A, CHANNEL_A, "UALICE", "what is it", ts), "files": [photo]}
    assert (await a.sender.event(event)).status == 200
    await oauth_bot.adapter.wait_idle()
    assert fake_slack.downloads == [("FA", f"Bearer {a.token}")]
    assert b.token not in str(fake_slack.downloads)
    body = fake_openai.chat_requests()[-1].body
    assert body is not None
    assert image_parts(body["messages"]) == [data_url("image/png", PNG)]
