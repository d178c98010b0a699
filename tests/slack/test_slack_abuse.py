"""Abuse over Slack's HTTP endpoint: a burst of keys through the modal, replayed requests."""

from __future__ import annotations

from adapters.slack import SlackAdapter
from adapters.slack.views import KEY_BLOCK
from app.services import Services
from bot.domain import Member
from tests.fakes.core import make_key
from tests.fakes.openai_server import FakeOpenAI
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
