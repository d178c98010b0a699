"""Key intake is throttled per member and per workspace, before the provider is asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.services import Services, open_services
from app.settings import Settings
from bot import texts
from bot.domain import Member, Severity
from bot.intake import KeyIntakeLimits
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, make_key, member, with_variables
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def use_clock(services: Services, clock: Clock) -> None:
    """The same limits as configured, on a clock the test moves."""
    limits = services.settings.limits
    services.commands._intake = KeyIntakeLimits(
        attempts=services.store,
        per_member=limits.key_tries_per_member,
        per_workspace=limits.key_tries_per_workspace,
        clock=clock,
    )


def throttled(reply_text: str) -> bool:
    return reply_text.startswith(("Too many tries", "Lots of keys were tried"))


async def test_a_burst_of_keys_gets_five_checks_then_a_private_wait(
    services: Services, fake_openai: FakeOpenAI, clock: Clock
) -> None:
    use_clock(services, clock)
    # Every intake path counts against the same budget: the console's /setkey, a key alone
    # in a DM, and `setkey KEY` in a DM.
    for _ in range(3):
        assert not (await services.commands.run(ALICE, "setkey", make_key())).ok
    for text in (make_key(), f"setkey {make_key()}"):
        sink = RecordingSink()
        await services.core.handle_message(ask(ALICE, text, private=True), sink)
        assert sink.privates == [texts.KEY_REJECTED]
    assert len(fake_openai.authorizations("/models")) == 5

    good = make_key()
    fake_openai.behaviours[good] = openai_server.VALID
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, good, private=True), sink)
    clock.now += timedelta(minutes=3)
    refused = await services.commands.set_key(ALICE, good)

    # Not one more call reached the provider, and nothing was stored.
    assert len(fake_openai.authorizations("/models")) == 5
    assert await services.store.get_key(ALICE) is None
    assert throttled(sink.privates[0]) and "10 minutes" in sink.privates[0]
    assert refused.severity is Severity.REFUSED
    assert refused.text.endswith("Please try again in 7 minutes.")
    assert good not in refused.text
    events = await services.store.audit_events(member=ALICE)
    assert [(e.event, e.outcome) for e in events[:2]] == [("key_intake_throttled", "member")] * 2

    # Once the first tries are ten minutes old, keys are checked again.
    clock.now += timedelta(minutes=7)
    assert (await services.commands.set_key(ALICE, good)).ok
    assert len(fake_openai.authorizations("/models")) == 6


async def test_malformed_input_costs_no_try(
    services: Services, fake_openai: FakeOpenAI, clock: Clock
) -> None:
    use_clock(services, clock)
    for raw in ["", "sk-proj-with space", "sk-admin-" + "x" * 40] * 4:
        assert not (await services.commands.set_key(ALICE, raw)).ok
    assert fake_openai.requests == []
    good = make_key()
    fake_openai.behaviours[good] = openai_server.VALID
    assert (await services.commands.set_key(ALICE, good)).ok


@pytest.fixture
async def small_workspace_bound(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(
        with_variables(
            settings, {"BYOK_KEY_TRIES_PER_MEMBER": 2, "BYOK_KEY_TRIES_PER_WORKSPACE": 3}
        )
    )
    yield opened
    await opened.close()


async def test_a_workspace_bound_holds_across_its_members(
    small_workspace_bound: Services, fake_openai: FakeOpenAI
) -> None:
    services = small_workspace_bound
    alice, bob, carol = (Member("slack", "T1", user) for user in ("UA", "UB", "UC"))
    elsewhere = Member("slack", "T2", "UD")
    replies = [
        await services.commands.set_key(who, make_key()) for who in (alice, alice, alice, bob)
    ]
    # Alice reaches her own bound; her refused try does not use up the workspace's.
    assert [throttled(r.text) for r in replies] == [False, False, True, False]
    assert "2 keys per person" in replies[2].text
    workspace_full = await services.commands.set_key(carol, make_key())
    assert throttled(workspace_full.text) and workspace_full.text.startswith("Lots of keys")
    assert not throttled((await services.commands.set_key(elsewhere, make_key())).text)
    assert len(fake_openai.authorizations("/models")) == 4
    outcomes = [
        (e.user, e.outcome)
        for e in await services.store.audit_events()
        if e.event == "key_intake_throttled"
    ]
    assert sorted(outcomes) == [("UA", "member"), ("UC", "workspace")]


async def test_without_a_workspace_only_the_members_bound_applies(
    small_workspace_bound: Services, fake_openai: FakeOpenAI
) -> None:
    """Discord keys are global: a shared bound would let a few accounts lock out everyone."""
    services = small_workspace_bound
    for user in ("1", "2", "3", "4"):
        for _ in range(2):
            reply = await services.commands.set_key(Member("discord", "", user), make_key())
            assert not throttled(reply.text), user
    assert len(fake_openai.authorizations("/models")) == 8
