"""Each adapter run as `byok-bot` at LOG_LEVEL=DEBUG (and the SDK's own OPENAI_LOG=debug) through a
scripted conversation: /setkey by modal and by DM, a question, a key pasted in a channel. Every
byte the process writes is scanned for every key, token and secret it was handed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import make_key
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.payloads import BOT_BASE, MANAGE_MESSAGES
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.running_cli import LOOPBACK_CLI, RunningCli
from tests.fakes.slack import FakeSlack
from tests.slack.requests import (
    CHANNEL,
    DM,
    SIGNING_SECRET,
    Answer,
    SlackSender,
    channel_message,
    direct_message,
    mention,
)

SLACK_BOT_TOKEN = "xoxb-debug-logs-bot-token"
SLACK_APP_TOKEN = "xapp-debug-logs-app-token"
# What a library would print if it logged a raw Slack payload: Slack's verification token.
SLACK_VERIFICATION_TOKEN = "legacy-token"


def debug_environment(fake_openai: FakeOpenAI, tmp_path: Path, **variables: str) -> dict[str, str]:
    return {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/data/byok.sqlite3",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "LOG_LEVEL": "DEBUG",
        # The openai SDK's own switch: it must not bring the SDK's request logs back.
        "OPENAI_LOG": "debug",
        **variables,
    }


def valid_keys(fake_openai: FakeOpenAI, count: int) -> list[str]:
    keys = [make_key() for _ in range(count)]
    for key in keys:
        fake_openai.behaviours[key] = openai_server.VALID
    return keys


def assert_nothing_secret(written: str, secrets: list[str]) -> None:
    assert written, "the process wrote nothing at all"
    for secret in secrets:
        assert secret not in written
        if len(secret) > 40:
            # Nor a long piece of it (a log line cut or wrapped mid-key).
            assert secret[8:32] not in written
    # No library's request logs: openai's (OPENAI_LOG), httpx/httpcore's, bolt's, discord's.
    for library in ("openai.", "httpcore", "httpx", "slack_bolt", "slack_sdk", "discord."):
        assert f" DEBUG {library}" not in written
    assert " DEBUG byok-bot" not in written  # slack_bolt's listener loggers are named after the app


class SocketModeSender(SlackSender):
    """The requests SlackSender makes, delivered as Socket Mode envelopes instead of over HTTP."""

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__("unused: Socket Mode")
        self._fake = fake
        self.envelopes: list[str] = []

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Answer:
        payload: dict[str, Any]
        if content_type == "application/json":
            payload, kind = json.loads(body), "events_api"
        else:
            form = dict(parse_qsl(body))
            if "payload" in form:
                payload, kind = json.loads(form["payload"]), "interactive"
            else:
                payload, kind = dict(form), "slash_commands"
        self.envelopes.append(await self._fake.send_envelope(payload, kind=kind))
        return Answer(200, "")


async def test_console_at_debug_writes_no_key(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    mine, leaked = valid_keys(fake_openai, 2)
    script = "\n".join(
        [
            f"/setkey {mine}",
            "what is a monad?",
            "/channel general",
            f"@bot is this one still good? {leaked}",
            "/mykey",
            "/quit",
        ]
    )
    code, out, err = await run_cli(
        "console", cwd=tmp_path, env=debug_environment(fake_openai, tmp_path), stdin=script
    )
    assert code == 0, err
    assert "You asked: what is a monad?" in out, out
    assert "revoke" in out
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {mine}"]
    assert_nothing_secret(out + err, [mine, leaked])


async def test_slack_socket_mode_at_debug_writes_no_key(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake = await FakeSlack().start()
    by_modal, by_dm, leaked = valid_keys(fake_openai, 3)
    slack = SocketModeSender(fake)
    response_url = fake.response_url("setkey")
    environment = debug_environment(
        fake_openai,
        tmp_path,
        SLACK_BOT_TOKEN=SLACK_BOT_TOKEN,
        SLACK_APP_TOKEN=SLACK_APP_TOKEN,
        SLACK_API_URL=fake.api_url,
    )
    bot = await RunningCli.start("run", cwd=tmp_path, env=environment)
    try:
        # Start-up may be slow on a busy machine; the fake's own waits are short.
        await bot.wait_for_output("slack: signed in as")
        await slack.command("/setkey", user="UALICE", response_url=response_url)
        await fake.wait_for(lambda: bool(fake.calls_to("views.open")))
        await slack.submit_key("UALICE", by_modal)
        submitted = slack.envelopes[-1]
        await fake.wait_for(lambda: submitted in fake.acks and bool(fake.calls_to("views.publish")))

        await slack.event(direct_message("UBOB", by_dm, fake.next_ts()))
        await fake.wait_for(
            lambda: any(c.args.get("channel") == DM for c in fake.calls_to("chat.postMessage"))
        )

        asked = fake.add_member_message(CHANNEL, "UALICE", "<@UBOT> what is a monad?")
        await slack.event(mention("UALICE", "what is a monad?", asked))
        await fake.wait_for(lambda: bool(fake.calls_to("chat.stopStream")))

        pasted = fake.add_member_message(CHANNEL, "UCAROL", f"try {leaked}")
        await slack.event(channel_message("UCAROL", f"try {leaked}", pasted))
        await fake.wait_for(
            lambda: any(c.args["user"] == "UCAROL" for c in fake.calls_to("chat.postEphemeral"))
        )
    finally:
        await bot.stop()
        await fake.close()
    assert sorted(fake_openai.authorizations("/models"), key=str) == sorted(
        [f"Bearer {by_modal}", f"Bearer {by_dm}"]
    )
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {by_modal}"]
    assert_nothing_secret(
        bot.written,
        [by_modal, by_dm, leaked, SLACK_BOT_TOKEN, SLACK_APP_TOKEN, response_url],
    )
    assert SLACK_VERIFICATION_TOKEN not in bot.written


async def test_slack_http_mode_at_debug_writes_no_key(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    fake = await FakeSlack().start()
    by_modal, by_dm, leaked = valid_keys(fake_openai, 3)
    port = free_port()
    response_url = fake.response_url("setkey")
    environment = debug_environment(
        fake_openai,
        tmp_path,
        SLACK_BOT_TOKEN=SLACK_BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        BYOK_HTTP_PORT=str(port),
        BYOK_TEST_SLACK_LOOPBACK="1",
    )
    bot = await RunningCli.start("run", cwd=tmp_path, env=environment, module=LOOPBACK_CLI)
    slack = SlackSender(f"http://127.0.0.1:{port}/slack/events")
    try:
        await bot.wait_for_output("slack: listening on")
        opened = await slack.command("/setkey", user="UALICE", response_url=response_url)
        assert opened.status == 200
        submitted = await slack.submit_key("UALICE", by_modal)
        assert submitted.json()["response_action"] == "update"

        await slack.event(direct_message("UBOB", by_dm, fake.next_ts()))
        asked = fake.add_member_message(CHANNEL, "UALICE", "<@UBOT> what is a monad?")
        await slack.event(mention("UALICE", "what is a monad?", asked))
        pasted = fake.add_member_message(CHANNEL, "UCAROL", f"try {leaked}")
        await slack.event(channel_message("UCAROL", f"try {leaked}", pasted))
        await fake.wait_for(
            lambda: (
                bool(fake.calls_to("chat.stopStream"))
                and any(c.args["user"] == "UCAROL" for c in fake.calls_to("chat.postEphemeral"))
                and any(c.args.get("channel") == DM for c in fake.calls_to("chat.postMessage"))
            )
        )
    finally:
        await bot.stop()
        await fake.close()
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {by_modal}"]
    assert_nothing_secret(
        bot.written,
        [by_modal, by_dm, leaked, SLACK_BOT_TOKEN, SIGNING_SECRET, response_url],
    )
    assert SLACK_VERIFICATION_TOKEN not in bot.written


async def test_discord_at_debug_writes_no_key(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake = await FakeDiscord().start()
    alice, bob, carol = (fake.add_user(name) for name in ("alice", "bob", "carol"))
    guild = fake.add_guild("Test server", owner=alice, bot_permissions=BOT_BASE | MANAGE_MESSAGES)
    general = fake.add_channel(guild, "general")
    by_modal, by_dm, leaked = valid_keys(fake_openai, 3)
    environment = debug_environment(
        fake_openai,
        tmp_path,
        DISCORD_BOT_TOKEN=fake.token,
        DISCORD_MESSAGE_CONTENT="true",
        BYOK_TEST_DISCORD_API=fake.api_base,
        BYOK_TEST_DISCORD_GATEWAY=fake.gateway_url,
    )
    bot = await RunningCli.start("run", cwd=tmp_path, env=environment, module=LOOPBACK_CLI)
    try:
        await bot.wait_for_output("connected to Discord as")
        opened = await fake.command(alice, general, "setkey")
        await fake.wait_for(lambda: opened.modal is not None)
        submitted = await fake.submit_modal(opened, by_modal)
        await fake.wait_for(lambda: any("saved" in text for text in submitted.texts))

        await fake.post_message(bob, fake.dm_channel(bob), f"setkey {by_dm}")
        await fake.wait_for(lambda: any("saved" in text for text in fake.dms_to(bob)))

        await fake.post_message(alice, general, "what is a monad?", mention_bot=True)
        await fake.wait_for(
            lambda: any(
                "You asked" in m["content"]
                for thread in fake.threads()
                for m in fake.bot_messages(thread.id)
            )
        )

        pasted = await fake.post_message(carol, general, f"try {leaked}")
        await fake.wait_for(lambda: pasted in fake.deleted and bool(fake.dms_to(carol)))
    finally:
        await bot.stop()
        await fake.close()
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {by_modal}"]
    assert_nothing_secret(bot.written, [by_modal, by_dm, leaked, fake.token])
