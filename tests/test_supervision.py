"""Adapters that heal and stay apart: a platform that cannot be reached is retried with
capped backoff while the other keeps serving, and a token the platform rejects is final."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import discord
import pytest
import yarl
from pydantic import SecretStr

from adapters.discord import create_discord_adapter
from app.services import Services, open_services
from app.supervisor import AdapterSpec, Backoff, Supervisor
from bot.domain import Member
from bot.ports import AdapterConfigError
from bot.vault import generate_master_key
from tests.discord.conftest import FAST
from tests.fakes.core import make_settings, with_key
from tests.fakes.discord import FakeDiscord
from tests.fakes.loopback import eventually, free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.running_cli import LOOPBACK_CLI, RunningCli
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.requests import CHANNEL, SIGNING_SECRET, SlackSender, mention

QUICK = Backoff(first=0.02, cap=0.1)


def discord_spec(services: Services, token: str) -> AdapterSpec:
    settings = services.settings.discord.model_copy(update={"bot_token": SecretStr(token)})
    return AdapterSpec(
        "discord",
        lambda: create_discord_adapter(core=services.core, settings=settings, options=FAST),
    )


async def test_discord_is_retried_until_it_comes_back(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await FakeDiscord().start()
    try:
        nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
        monkeypatch.setattr(discord.http.Route, "BASE", nowhere)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url)
        )
        supervisor = Supervisor(specs=[discord_spec(services, fake.token)], grace=0, backoff=QUICK)
        with caplog.at_level(logging.WARNING, logger="app.supervisor"):
            serving = asyncio.create_task(supervisor.serve(handle_signals=False))
            await eventually(
                lambda: len([r for r in caplog.records if "retrying in" in r.getMessage()]) >= 3
            )
            # Discord answers again.
            monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
            await eventually(lambda: bool(fake.gateway.identifies))
            supervisor.stop()
            await asyncio.wait_for(serving, 30)
        retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
        assert all(line.startswith("discord: cannot connect (") for line in retries)
        assert all(r.exc_info is None for r in caplog.records), "one line each, no traceback"
    finally:
        await fake.close()


async def test_a_token_discord_rejects_is_final(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = await FakeDiscord().start()
    try:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        supervisor = Supervisor(
            specs=[discord_spec(services, "not-the-token")], grace=0, backoff=QUICK
        )
        with pytest.raises(AdapterConfigError, match="DISCORD_BOT_TOKEN"):
            await asyncio.wait_for(supervisor.serve(handle_signals=False), 30)
    finally:
        await fake.close()


async def test_discord_unreachable_while_slack_serves_in_one_process(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    master_keys = generate_master_key()
    database = f"sqlite:///{tmp_path}/data/byok.sqlite3"
    seeding = await open_services(
        make_settings(fake_openai, master_keys=master_keys, database_url=database)
    )
    try:
        await with_key(seeding, fake_openai, Member("slack", TEAM, "UALICE"))
    finally:
        await seeding.close()
    fake_slack = await FakeSlack().start()
    port, dead = free_port(), free_port()
    bot = await RunningCli.start(
        "run",
        cwd=tmp_path,
        module=LOOPBACK_CLI,
        env={
            "BYOK_MASTER_KEYS": master_keys,
            "DATABASE_URL": database,
            "OPENAI_BASE_URL": fake_openai.base_url,
            "DISCORD_BOT_TOKEN": "made-up-token",
            "BYOK_TEST_DISCORD_API": f"http://127.0.0.1:{dead}/api/v10",
            "BYOK_TEST_DISCORD_GATEWAY": f"ws://127.0.0.1:{dead}/",
            "SLACK_BOT_TOKEN": "xoxb-supervision-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.api_url,
            "BYOK_HTTP_PORT": str(port),
            "BYOK_TEST_SLACK_LOOPBACK": "1",
        },
    )
    try:
        await bot.wait_for_output("slack: listening on")
        await bot.wait_for_output("discord: cannot connect (")
        asked = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> are you there?")
        sender = SlackSender(f"http://127.0.0.1:{port}/slack/events")
        await sender.event(mention("UALICE", "are you there?", asked))
        await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.stopStream")))
        assert fake_slack.bot_replies(CHANNEL, asked)[0]["text"] == "You asked: are you there?"
    finally:
        code = await bot.stop(signal.SIGTERM)
        await fake_slack.close()
    assert code == 0, bot.written
    assert "Traceback" not in bot.written


async def test_a_rejected_token_stops_the_process_in_one_line(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake = await FakeDiscord().start()
    try:
        bot = await RunningCli.start(
            "run",
            cwd=tmp_path,
            module=LOOPBACK_CLI,
            env={
                "BYOK_MASTER_KEYS": generate_master_key(),
                "DATABASE_URL": f"sqlite:///{tmp_path}/data/byok.sqlite3",
                "OPENAI_BASE_URL": fake_openai.base_url,
                "DISCORD_BOT_TOKEN": "not-the-fake-token",
                "BYOK_TEST_DISCORD_API": fake.api_base,
                "BYOK_TEST_DISCORD_GATEWAY": fake.gateway_url,
                "BYOK_HTTP_PORT": "",
            },
        )
        code = await bot.wait()
    finally:
        await fake.close()
    assert code == 2, bot.written
    errors = [line for line in bot.err.decode().splitlines() if line.startswith("byok-bot:")]
    assert errors == ["byok-bot: DISCORD_BOT_TOKEN was rejected by Discord"]
    assert "Traceback" not in bot.written
