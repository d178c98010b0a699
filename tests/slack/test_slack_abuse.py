"""Abuse over Slack's HTTP endpoint: a burst of keys through the modal, replayed requests."""

from __future__ import annotations

from adapters.slack import SlackAdapter
from adapters.slack.views import KEY_BLOCK
from app.services import Services
from bot import texts
from bot.domain import Member
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.requests import SlackSender

ALICE = Member("slack", TEAM, "UALICE")


async def test_a_burst_of_keys_in_the_modal_is_refused_inline_after_five(
    slack: SlackAdapter, sender: SlackSender, fake_openai: FakeOpenAI, services: Services
) -> None:
    answers = [await sender.submit_key("UALICE", make_key()) for _ in range(7)]
    await slack.wait_idle()
    errors = [answer.json()["errors"][KEY_BLOCK] for answer in answers]
    assert all("rejected" in error for error in errors[:5])
    assert all(error.startswith("Too many tries") for error in errors[5:])
    assert len(fake_openai.authorizations("/models")) == 5
    events = await services.store.audit_events(member=ALICE)
    assert [e.event for e in events[:2]] == ["key_intake_throttled"] * 2


async def valid_key(fake_openai: FakeOpenAI) -> str:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    return key


async def test_a_replayed_setkey_submission_after_removekey_stores_nothing(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = await valid_key(fake_openai)
    assert (await sender.submit_key("UALICE", key)).json()["response_action"] == "update"
    captured = sender.sent[-1]
    removed = await sender.command(
        "/removekey", user="UALICE", response_url=fake_slack.response_url("rm")
    )
    assert removed.status == 200
    await slack.wait_idle()
    assert await services.store.get_key(ALICE) is None

    replayed = await sender.replay(captured)
    await slack.wait_idle()
    assert await services.store.get_key(ALICE) is None
    assert (replayed.status, replayed.text) == (200, "")
    # The replay did not even reach the provider.
    assert fake_openai.authorizations("/models") == [f"Bearer {key}"]


async def test_a_replayed_removekey_removes_nothing(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await sender.submit_key("UALICE", await valid_key(fake_openai))
    await sender.command("/removekey", user="UALICE", response_url=fake_slack.response_url("rm"))
    captured = sender.sent[-1]
    await slack.wait_idle()
    second = await valid_key(fake_openai)
    await sender.submit_key("UALICE", second)
    await slack.wait_idle()

    replayed = await sender.replay(captured)
    await slack.wait_idle()
    assert (replayed.status, replayed.text) == (200, "")
    stored = await services.store.get_key(ALICE)
    assert stored is not None and services.vault.open(ALICE, stored.sealed) == second
    # Only the first /removekey was answered.
    answers = [r.args.get("text") for r in fake_slack.responses]
    assert answers.count(texts.KEY_REMOVED) == 1


async def test_the_same_body_signed_again_is_not_a_replay(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    """Slack signs every delivery anew; only the very same signature is refused."""
    await sender.command("/mykey", user="UALICE", response_url=fake_slack.response_url("a"))
    first = sender.sent[-1]
    again = await sender.post(first.body, first.content_type, timestamp=first.timestamp + 1)
    await slack.wait_idle()
    assert again.status == 200
    assert len(fake_slack.responses) == 2
