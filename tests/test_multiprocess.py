"""Two `byok-bot run` processes in Slack HTTP mode, on two ports, sharing one PostgreSQL
database, the fake Slack and the fake provider: every promise holds across them, as behind
a load balancer that sends each request to either worker."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import texts
from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.running_cli import LOOPBACK_CLI, RunningCli
from tests.fakes.slack import FakeSlack
from tests.slack.installs import Browser
from tests.slack.requests import CHANNEL, SIGNING_SECRET, SlackSender, mention

# Short, so a killed worker's slot comes back within seconds (renewed every third of it).
LEASE_SECONDS = 2.0
BOT_TOKEN = "xoxb-multiprocess-bot-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Worker:
    process: RunningCli
    slack: SlackSender


@dataclass
class Cluster:
    one: Worker
    two: Worker
    fake_slack: FakeSlack
    fake_openai: FakeOpenAI

    def ephemerals(self, user: str, text: str) -> int:
        return sum(
            c.args.get("user") == user and c.args.get("text") == text
            for c in self.fake_slack.calls_to("chat.postEphemeral")
        )

    async def set_key(self, worker: Worker, user: str) -> str:
        key = make_key()
        self.fake_openai.behaviours[key] = openai_server.VALID
        answer = await worker.slack.submit_key(user, key)
        assert answer.status == 200, answer.text
        assert answer.json()["response_action"] == "update", answer.text
        return key


async def start_worker(tmp_path: Path, name: str, environment: dict[str, str]) -> Worker:
    port = free_port()
    folder = tmp_path / name
    folder.mkdir()
    process = await RunningCli.start(
        "run",
        cwd=folder,
        env={**environment, "BYOK_HTTP_PORT": str(port)},
        module=LOOPBACK_CLI,
    )
    return Worker(process, SlackSender(f"http://127.0.0.1:{port}/slack/events"))


@pytest.fixture
async def cluster(
    tmp_path: Path, postgres_url: str, fake_openai: FakeOpenAI
) -> AsyncIterator[Cluster]:
    fake_slack = await FakeSlack().start()
    environment = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": postgres_url,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "BYOK_TEST_SLACK_LOOPBACK": "1",
        "BYOK_TURN_LEASE_SECONDS": str(LEASE_SECONDS),
        "BYOK_MAX_CONCURRENT_PER_MEMBER": "1",
        "BYOK_REQUESTS_PER_MINUTE": "1000",
    }
    one = await start_worker(tmp_path, "one", environment)
    two = await start_worker(tmp_path, "two", environment)
    try:
        for worker in (one, two):
            await worker.process.wait_for_output("slack: listening on")
        yield Cluster(one, two, fake_slack, fake_openai)
    finally:
        for worker in (one, two):
            await worker.process.stop()
        await fake_slack.close()


async def test_one_event_delivered_to_both_workers_is_answered_once(cluster: Cluster) -> None:
    fake, provider = cluster.fake_slack, cluster.fake_openai
    # A key set through one worker answers through the other at once.
    key = await cluster.set_key(cluster.one, "UALICE")
    ts = fake.add_member_message(CHANNEL, "UALICE", "<@UBOT> first")
    await cluster.two.slack.event(mention("UALICE", "first", ts))
    await fake.wait_for(lambda: len(fake.answers(CHANNEL, ts)) == 1)
    assert provider.authorizations("/chat/completions") == [f"Bearer {key}"]

    # The very same signed request to both workers at once (a proxy's retry): one call.
    # (Another member: Alice's first turn may still be releasing its slot.)
    await cluster.set_key(cluster.two, "UDAVE")
    ts = fake.add_member_message(CHANNEL, "UDAVE", "<@UBOT> twice?")
    body = json.dumps(cluster.one.slack.event_body(mention("UDAVE", "twice?", ts)))
    stamp = int(time.time())
    answers = await asyncio.gather(
        cluster.one.slack.post(body, "application/json", timestamp=stamp),
        cluster.two.slack.post(body, "application/json", timestamp=stamp),
    )
    assert [a.status for a in answers] == [200, 200]
    # Slack's own retry of that event, signed anew, reaching the other worker later.
    retried = await cluster.two.slack.post(body, "application/json", timestamp=stamp + 1)
    assert retried.status == 200
    await fake.wait_for(lambda: len(fake.answers(CHANNEL, ts)) == 1)
    await asyncio.sleep(0.5)  # time enough for a second answer, were one coming
    assert len(fake.answers(CHANNEL, ts)) == 1
    assert len(provider.chat_requests()) == 2


async def test_a_burst_across_both_workers_has_one_turn_in_flight(cluster: Cluster) -> None:
    fake, provider = cluster.fake_slack, cluster.fake_openai
    key = await cluster.set_key(cluster.two, "UBOB")
    gate = provider.hold(key)
    burst = []
    for n in range(8):
        ts = fake.add_member_message(CHANNEL, "UBOB", f"<@UBOT> question {n}")
        worker = cluster.one if n % 2 else cluster.two
        burst.append(worker.slack.event(mention("UBOB", f"question {n}", ts)))
    await asyncio.gather(*burst)
    # One turn is with the provider; the seven others are told, privately, to wait.
    await fake.wait_for(lambda: cluster.ephemerals("UBOB", texts.STILL_ANSWERING) == 7)
    # The turn that took the slot posts its placeholder first, then asks the provider.
    await fake.wait_for(lambda: provider.in_flight.get(key) == 1)
    gate.set()
    await fake.wait_for(lambda: provider.in_flight.get(key) == 0)
    assert provider.most_in_flight[key] == 1
    assert len(provider.chat_requests()) == 1


async def test_a_killed_worker_frees_the_members_slot_within_the_lease(cluster: Cluster) -> None:
    fake, provider = cluster.fake_slack, cluster.fake_openai
    key = await cluster.set_key(cluster.one, "UCAROL")
    gate = provider.hold(key, mid_stream=True)
    ts = fake.add_member_message(CHANNEL, "UCAROL", "<@UBOT> a long answer")
    await cluster.one.slack.event(mention("UCAROL", "a long answer", ts))
    async with asyncio.timeout(10):
        await provider.first_piece_sent.wait()
    await cluster.one.process.kill()
    killed_at = time.monotonic()
    gate.set()

    # The dead worker's lease still holds the slot for a moment...
    ts = fake.add_member_message(CHANNEL, "UCAROL", "<@UBOT> now?")
    await cluster.two.slack.event(mention("UCAROL", "now?", ts))
    await fake.wait_for(lambda: cluster.ephemerals("UCAROL", texts.STILL_ANSWERING) == 1)
    assert len(provider.chat_requests()) == 1
    # ... and no longer than the lease: then the other worker serves the member.
    async with asyncio.timeout(LEASE_SECONDS + 5):
        answered = False
        while not answered:
            await asyncio.sleep(0.25)
            answered = await asked_and_answered(cluster, "UCAROL")
    freed_after = time.monotonic() - killed_at
    assert freed_after <= LEASE_SECONDS + 2, freed_after
    await fake.wait_for(lambda: bool(provider.reported_usage) and provider.in_flight[key] == 0)
    assert len(provider.chat_requests()) == 2


async def asked_and_answered(cluster: Cluster, user: str) -> bool:
    """Ask through the second worker; True when answered, False when told to wait."""
    fake = cluster.fake_slack
    refusals = cluster.ephemerals(user, texts.STILL_ANSWERING)
    ts = fake.add_member_message(CHANNEL, user, "<@UBOT> and now?")
    await cluster.two.slack.event(mention(user, "and now?", ts))
    await fake.wait_for(
        lambda: (
            bool(fake.answers(CHANNEL, ts))
            or cluster.ephemerals(user, texts.STILL_ANSWERING) > refusals
        )
    )
    return bool(fake.answers(CHANNEL, ts))


async def test_an_install_begun_on_one_worker_finishes_on_the_other_and_both_serve_it(
    tmp_path: Path, postgres_url: str, fake_openai: FakeOpenAI
) -> None:
    """OAuth mode behind a load balancer: the install's state, the installation and its bot
    token live in the shared database, not in one worker."""
    fake_slack = await FakeSlack().start()
    environment = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": postgres_url,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "SLACK_CLIENT_ID": fake_slack.client_id,
        "SLACK_CLIENT_SECRET": fake_slack.client_secret,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "BYOK_TEST_SLACK_LOOPBACK": "1",
    }
    one = await start_worker(tmp_path, "one", environment)
    two = await start_worker(tmp_path, "two", environment)
    try:
        for worker in (one, two):
            await worker.process.wait_for_output("slack: listening on")
        browsers = [
            Browser(worker.slack.url.removesuffix("/slack/events"), fake_slack)
            for worker in (one, two)
        ]
        page = await browsers[0].install_page()
        done = await browsers[1].redirect(
            code=fake_slack.authorize("TWORKERS"), state=page.link_state, cookie=page.cookie_state
        )
        assert done.status == 200, done.text
        (token,) = fake_slack.installed
        # Used up for every worker.
        again = await browsers[0].redirect(
            code=fake_slack.authorize("TOTHER"), state=page.link_state, cookie=page.cookie_state
        )
        assert again.status == 401

        key = make_key()
        fake_openai.behaviours[key] = openai_server.VALID
        through_one = SlackSender(one.slack.url, team="TWORKERS")
        assert (await through_one.submit_key("UALICE", key)).status == 200
        ts = fake_slack.add_member_message("CWORK", "UALICE", "<@UBOT> hello")
        event = {**mention("UALICE", "hello", ts), "channel": "CWORK", "team": "TWORKERS"}
        assert (await SlackSender(two.slack.url, team="TWORKERS").event(event)).status == 200
        await fake_slack.wait_for(lambda: len(fake_slack.answers("CWORK", ts)) == 1)
        assert {call.token for call in fake_slack.calls_to("chat.startStream")} == {token}
        assert fake_openai.authorizations("/chat/completions") == [f"Bearer {key}"]
    finally:
        for worker in (one, two):
            await worker.process.stop()
        await fake_slack.close()


async def _command(cluster: Cluster, worker: Worker, user: str, command: str, text: str) -> str:
    """A slash command through `worker`; the text of its private reply."""
    fake = cluster.fake_slack
    before = len(fake.responses)
    answer = await worker.slack.command(
        command, text, user=user, response_url=fake.response_url(f"r{before}")
    )
    assert answer.status == 200, answer.text
    await fake.wait_for(lambda: len(fake.responses) > before)
    return str(fake.responses[before].args["text"])


async def _ask(cluster: Cluster, worker: Worker, user: str, text: str) -> str:
    """A mention through `worker`; the model the provider was asked for, or the private
    reason there was no call."""
    fake, provider = cluster.fake_slack, cluster.fake_openai
    calls, privates = len(provider.chat_requests()), len(fake.calls_to("chat.postEphemeral"))
    ts = fake.add_member_message(CHANNEL, user, f"<@UBOT> {text}")
    await worker.slack.event(mention(user, text, ts))
    await fake.wait_for(
        lambda: (
            len(fake.answers(CHANNEL, ts)) == 1
            or len(fake.calls_to("chat.postEphemeral")) > privates
        )
    )
    if len(provider.chat_requests()) > calls:
        body = provider.chat_requests()[-1].body or {}
        return str(body["model"])
    return str(fake.calls_to("chat.postEphemeral")[-1].args["text"])


async def test_changes_made_through_one_worker_hold_for_the_next_turn_on_the_other(
    cluster: Cluster,
) -> None:
    """Nothing a turn reads is cached: each turn reads the member's key, model and caps and
    the workspace's settings in one query (Store.turn_context), so what /model, /limit,
    /byok-config or a second process changed is what the very next turn uses."""
    fake = cluster.fake_slack
    fake.admins.add("UADMIN")
    await cluster.set_key(cluster.one, "UERIN")
    assert await _ask(cluster, cluster.two, "UERIN", "first") == "gpt-5-mini"

    await _command(cluster, cluster.one, "UERIN", "/model", "gpt-4o")
    assert await _ask(cluster, cluster.two, "UERIN", "second") == "gpt-4o"

    await _command(cluster, cluster.one, "UADMIN", "/byok-config", "model o3")
    await _command(cluster, cluster.one, "UERIN", "/model", "default")
    assert await _ask(cluster, cluster.two, "UERIN", "third") == "o3"

    await _command(cluster, cluster.one, "UADMIN", "/byok-config", "channels <#CELSEWHERE>")
    assert await _ask(cluster, cluster.two, "UERIN", "fourth") == texts.CHANNEL_NOT_ALLOWED
    await _command(cluster, cluster.one, "UADMIN", "/byok-config", "channels all")

    await _command(cluster, cluster.one, "UERIN", "/limit", "daily 1 tokens")
    refusal = await _ask(cluster, cluster.two, "UERIN", "fifth")
    assert "daily" in refusal and "1 tokens" in refusal
    await _command(cluster, cluster.one, "UERIN", "/limit", "daily off")
    assert await _ask(cluster, cluster.two, "UERIN", "sixth") == "o3"
