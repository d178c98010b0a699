"""SIGTERM (what systemd, Docker and Kubernetes send) stops a real `byok-bot run` gracefully:
no new turns, answers in flight finish within BYOK_SHUTDOWN_GRACE (or are marked cut off
after it), usage rows are written, one line is logged, and the exit status is 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path

import aiohttp

from app.services import open_services
from bot.domain import Member
from bot.vault import generate_master_key
from tests.fakes.core import make_settings, with_key
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.running_cli import LOOPBACK_CLI, RunningCli
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.requests import CHANNEL, SIGNING_SECRET, SlackSender, mention

BOT_TOKEN = "xoxb-graceful-stop-bot-token"
ALICE = Member("slack", TEAM, "UALICE")


async def start_bot(
    tmp_path: Path, fake_openai: FakeOpenAI, fake_slack: FakeSlack, *, grace: float
) -> tuple[RunningCli, SlackSender, str, Path]:
    master_keys = generate_master_key()
    database = tmp_path / "data" / "byok.sqlite3"
    services = await open_services(
        make_settings(fake_openai, master_keys=master_keys, database_url=f"sqlite:///{database}")
    )
    try:
        key = await with_key(services, fake_openai, ALICE)
    finally:
        await services.close()
    port = free_port()
    bot = await RunningCli.start(
        "run",
        cwd=tmp_path,
        module=LOOPBACK_CLI,
        env={
            "BYOK_MASTER_KEYS": master_keys,
            "DATABASE_URL": f"sqlite:///{database}",
            "OPENAI_BASE_URL": fake_openai.base_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.api_url,
            "BYOK_HTTP_PORT": str(port),
            "BYOK_SHUTDOWN_GRACE": str(grace),
            "BYOK_TEST_SLACK_LOOPBACK": "1",
        },
    )
    await bot.wait_for_output("slack: listening on")
    return bot, SlackSender(f"http://127.0.0.1:{port}/slack/events"), key, database


def usage_outcomes(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT outcome FROM usage_events")]


async def test_sigterm_mid_answer_lets_it_finish_and_writes_its_usage(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_slack = await FakeSlack().start()
    try:
        bot, sender, key, database = await start_bot(tmp_path, fake_openai, fake_slack, grace=20)
        gate = fake_openai.hold(key, mid_stream=True)
        asked = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> tell me slowly")
        await sender.event(mention("UALICE", "tell me slowly", asked))
        await asyncio.wait_for(fake_openai.first_piece_sent.wait(), 30)

        stopping = asyncio.create_task(bot.stop(signal.SIGTERM))
        await bot.wait_for_output("SIGTERM: stopping")
        # A new question after the signal is not taken: the endpoint has stopped listening
        # (Slack retries it, to another worker where there is one).
        late = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> one more")
        with contextlib.suppress(aiohttp.ClientConnectionError):
            await asyncio.wait_for(sender.event(mention("UALICE", "one more", late)), 10)
        gate.set()
        code = await stopping
        assert code == 0, bot.written
        assert "Traceback" not in bot.written
        assert "stopped; every usage row is written" in bot.written
        (answer,) = fake_slack.bot_replies(CHANNEL, asked)
        assert answer["text"] == "You asked: tell me slowly"
        assert fake_slack.bot_replies(CHANNEL, late) == []
        assert usage_outcomes(database) == ["ok"]
        assert len(fake_openai.chat_requests()) == 1
    finally:
        await fake_slack.close()


async def test_an_answer_outliving_the_grace_is_marked_cut_and_still_recorded(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake_slack = await FakeSlack().start()
    try:
        bot, sender, key, database = await start_bot(tmp_path, fake_openai, fake_slack, grace=1)
        gate = fake_openai.hold(key, mid_stream=True)
        asked = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> never ends")
        await sender.event(mention("UALICE", "never ends", asked))
        await asyncio.wait_for(fake_openai.first_piece_sent.wait(), 30)
        code = await bot.stop(signal.SIGTERM)
        gate.set()
        assert code == 0, bot.written
        assert "Traceback" not in bot.written
        assert "answer cut off" in fake_slack.everything_received()
        assert usage_outcomes(database) == ["stopped"]
    finally:
        await fake_slack.close()
