"""Health, metrics and logs an operator can ship: real HTTP requests to the running server,
real `byok-bot` processes, and JSON log lines with every key masked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack import create_slack_adapter
from app.http import HttpServer, database_ready
from app.metrics import CONTENT_TYPE
from app.services import Services
from app.supervisor import AdapterSpec, Supervisor
from bot.domain import Member
from bot.ports import Adapter
from bot.redaction import JsonFormatter, guard_handler
from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import make_key, with_key
from tests.fakes.discord import FakeDiscord
from tests.fakes.faults import FailingStore
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.running_cli import LOOPBACK_CLI, RunningCli
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.conftest import slack_settings
from tests.slack.requests import CHANNEL, SlackSender, mention


class IdleAdapter:
    """An adapter that runs without ever connecting: a platform that is down."""

    name = "discord"
    ready = False

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self, *, grace: float = 0.0) -> None:
        return None


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def until_ready(base: str) -> None:
    async with asyncio.timeout(20):
        while True:
            if (await get(f"{base}/readyz"))[0] == 200:
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


class Running:
    def __init__(self, server: HttpServer, store: FailingStore) -> None:
        self.server = server
        self.store = store
        self.base = f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def running(services: Services, fake_slack: FakeSlack) -> AsyncIterator[Callable[..., Any]]:
    """The process's HTTP server with the Slack adapter attached (HTTP mode) under a real
    supervisor, as `byok-bot run` wires them; `extra` adds more adapter specs."""
    started: list[tuple[HttpServer, Supervisor, asyncio.Task[None]]] = []

    async def start(*extra: AdapterSpec) -> Running:
        store = FailingStore(services.store)
        supervisor: Supervisor | None = None

        async def waiting_for() -> list[str]:
            assert supervisor is not None
            database = await database_ready(store)
            return ([] if database else ["database"]) + supervisor.waiting_for()

        server = HttpServer(
            host="127.0.0.1",
            port=0,
            waiting_for=waiting_for,
            metrics=services.metrics.exposition,
            metrics_content_type=CONTENT_TYPE,
            serves_slack=True,
        )
        settings = slack_settings(services, fake_slack)

        def slack() -> Adapter:
            return create_slack_adapter(
                core=services.core,
                settings=settings,
                once=services.store,
                endpoint=server,
                min_update_interval=0.0,
            )

        supervisor = Supervisor(specs=[AdapterSpec("slack", slack), *extra], grace=5)
        await server.start()
        task = asyncio.create_task(supervisor.serve(handle_signals=False))
        started.append((server, supervisor, task))
        return Running(server, store)

    yield start
    for server, supervisor, task in started:
        supervisor.stop()
        await task
        await server.close()


async def test_healthz_readyz_and_a_turn_counted_in_metrics(
    running: Callable[..., Any], services: Services, fake_openai: FakeOpenAI, fake_slack: FakeSlack
) -> None:
    bot: Running = await running()
    assert await get(f"{bot.base}/healthz") == (200, '{"alive": true}')
    await until_ready(bot.base)
    status, body = await get(f"{bot.base}/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True})

    alice = Member("slack", TEAM, "UALICE")
    key = await with_key(services, fake_openai, alice)
    sender = SlackSender(f"{bot.base}/slack/events")
    asked = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> hello there")
    assert (await sender.event(mention("UALICE", "hello there", asked))).status == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.answers(CHANNEL, asked)))

    counted = 'byok_turns_total{outcome="ok",platform="slack"} 1.0'
    async with asyncio.timeout(20), aiohttp.ClientSession() as session:
        # The reply is visible a moment before the turn has ended.
        while True:
            async with session.get(f"{bot.base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                metrics = await response.text()
            if counted in metrics:
                break
            await asyncio.sleep(0.05)
    assert "byok_provider_latency_seconds_count 1.0" in metrics
    assert "byok_provider_first_token_seconds_count 1.0" in metrics
    assert "byok_answers_in_flight 0.0" in metrics
    assert 'byok_provider_errors_total{kind="rate_limited"} 0.0' in metrics
    assert "byok_keys_stored 1.0" in metrics
    assert "byok_ledger_queue_depth" in metrics
    # Labels carry fixed words only: no user, team, channel, key or message text.
    for secret in ("UALICE", TEAM, CHANNEL, key, key[:7], "hello there"):
        assert secret not in metrics
    labels = re.findall(r'(\w+)="([^"]*)"', metrics)
    assert {name for name, _ in labels} <= {"platform", "outcome", "kind", "le"}


async def test_readyz_names_a_database_that_fails(running: Callable[..., Any]) -> None:
    bot: Running = await running()
    await until_ready(bot.base)
    bot.store.fail_reads = True
    status, body = await get(f"{bot.base}/readyz")
    assert (status, json.loads(body)) == (503, {"ready": False, "waiting_for": ["database"]})
    # Alive all the same: a restart would not bring the database back.
    assert (await get(f"{bot.base}/healthz"))[0] == 200
    bot.store.heal()
    assert (await get(f"{bot.base}/readyz"))[0] == 200


async def test_readyz_names_an_adapter_that_is_down(running: Callable[..., Any]) -> None:
    bot: Running = await running(AdapterSpec("discord", IdleAdapter))
    async with asyncio.timeout(20):
        while True:
            status, body = await get(f"{bot.base}/readyz")
            if json.loads(body).get("waiting_for") == ["discord"]:
                break
            await asyncio.sleep(0.05)
    assert status == 503


def _listening_ports(pid: int) -> set[int]:
    """TCP ports process `pid` listens on (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _discord_env(fake_openai: FakeOpenAI, tmp_path: Path, **variables: str) -> dict[str, str]:
    return {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "OPENAI_BASE_URL": fake_openai.base_url,
        **variables,
    }


async def test_a_discord_only_process_serves_health_on_its_own_port(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake = await FakeDiscord().start()
    port = free_port()
    env = _discord_env(
        fake_openai,
        tmp_path,
        DISCORD_BOT_TOKEN=fake.token,
        BYOK_TEST_DISCORD_API=fake.api_base,
        BYOK_TEST_DISCORD_GATEWAY=fake.gateway_url,
        BYOK_HTTP_PORT=str(port),
    )
    bot = await RunningCli.start("run", cwd=tmp_path, env=env, module=LOOPBACK_CLI)
    try:
        await bot.wait_for_output("connected to Discord as")
        base = f"http://127.0.0.1:{port}"
        assert (await get(f"{base}/healthz"))[0] == 200
        await until_ready(base)
        assert "byok_turns_total" in (await get(f"{base}/metrics"))[1]
        # Nothing else is served there: Slack's path is not, in a Discord-only run.
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/slack/events", data=b"{}") as response:
                assert response.status == 404
    finally:
        assert await bot.stop() == 0, bot.written
        await fake.close()


async def test_readyz_of_a_process_whose_discord_is_unreachable(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
    port = free_port()
    env = _discord_env(
        fake_openai,
        tmp_path,
        DISCORD_BOT_TOKEN="made-up.discord.token",
        BYOK_TEST_DISCORD_API=nowhere,
        BYOK_TEST_DISCORD_GATEWAY=nowhere.replace("http", "ws"),
        BYOK_HTTP_PORT=str(port),
    )
    bot = await RunningCli.start("run", cwd=tmp_path, env=env, module=LOOPBACK_CLI)
    try:
        await bot.wait_for_output("health and metrics on")
        status, body = await get(f"http://127.0.0.1:{port}/readyz")
        assert (status, json.loads(body)) == (503, {"ready": False, "waiting_for": ["discord"]})
        assert (await get(f"http://127.0.0.1:{port}/healthz"))[0] == 200
    finally:
        assert await bot.stop() == 0, bot.written


async def test_no_http_server_when_the_port_is_empty(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake = await FakeDiscord().start()
    env = _discord_env(
        fake_openai,
        tmp_path,
        DISCORD_BOT_TOKEN=fake.token,
        BYOK_TEST_DISCORD_API=fake.api_base,
        BYOK_TEST_DISCORD_GATEWAY=fake.gateway_url,
        BYOK_HTTP_PORT="",
    )
    bot = await RunningCli.start("run", cwd=tmp_path, env=env, module=LOOPBACK_CLI)
    try:
        await bot.wait_for_output("connected to Discord as")
        assert _listening_ports(bot.pid) == set()
        assert "health and metrics on" not in bot.written
    finally:
        assert await bot.stop() == 0, bot.written
        await fake.close()


async def test_slack_http_mode_refuses_an_empty_port(tmp_path: Path) -> None:
    env = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "SLACK_BOT_TOKEN": "xoxb-made-up",
        "SLACK_SIGNING_SECRET": "made-up-secret",
        "BYOK_HTTP_PORT": "",
    }
    code, _, err = await run_cli("run", cwd=tmp_path, env=env)
    assert code == 2
    assert err.strip().splitlines() == [
        "byok-bot: BYOK_HTTP_PORT: empty, but Slack's HTTP mode needs it (Slack posts its "
        "events there); set a port, or SLACK_APP_TOKEN to use Socket Mode"
    ]


# Logs


def test_json_lines_mask_a_key_in_the_message_an_argument_an_extra_field_and_a_traceback() -> None:
    key = make_key()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    guard_handler(handler)
    logger = logging.getLogger("bot.test_json_logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info(f"in the message {key}")
        logger.info("as an argument %s", key)
        logger.info("turn finished", extra={"platform": "slack", "outcome": key, "duration_ms": 12})
        try:
            raise ValueError(f"bad {key}")
        except ValueError:
            logger.exception("unexpected")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    entries = [json.loads(line) for line in lines]
    assert key not in stream.getvalue()
    masked = f"{key[:7]}...{key[-4:]}"
    assert masked in entries[0]["message"] and masked in entries[1]["message"]
    assert entries[2]["platform"] == "slack" and entries[2]["duration_ms"] == 12
    assert entries[2]["outcome"] == masked
    assert "ValueError: bad " + masked in entries[3]["exc"]
    assert entries[3]["exc"].startswith("Traceback")
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert entry["time"].endswith("Z") and entry["logger"] == "bot.test_json_logs"


async def _console_session(
    tmp_path: Path, fake_openai: FakeOpenAI, **variables: str
) -> tuple[str, str, str]:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    env = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "OPENAI_BASE_URL": fake_openai.base_url,
        **variables,
    }
    code, out, err = await run_cli(
        "console", cwd=tmp_path, env=env, stdin=f"/setkey {key}\nhello there\n"
    )
    assert code == 0, err
    assert "bot: You asked: hello there" in out
    return key, out, err


async def test_a_console_session_shows_no_library_request_lines(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    _, out, err = await _console_session(tmp_path, fake_openai)
    assert "HTTP Request:" not in out + err
    # At the console's default (WARNING), not even byok-bot's own INFO lines interleave.
    assert err == ""


async def test_console_at_info_in_json_keeps_library_lines_out_and_masks_keys(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    key, out, err = await _console_session(
        tmp_path, fake_openai, LOG_LEVEL="INFO", LOG_FORMAT="json"
    )
    assert "HTTP Request:" not in out + err
    assert key not in out + err
    entries = [json.loads(line) for line in err.splitlines()]
    turns = [entry for entry in entries if entry["message"].startswith("turn finished")]
    assert len(turns) == 1
    assert turns[0]["platform"] == "console" and turns[0]["outcome"] == "ok"
    assert isinstance(turns[0]["duration_ms"], int)
    assert all(not entry["logger"].startswith(("httpx", "httpcore")) for entry in entries)
