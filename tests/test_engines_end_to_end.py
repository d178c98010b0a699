"""Whole turns through `open_services` on each engine: the core does not know which one
it runs on, and every promise holds on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.services import Services
from bot import texts
from bot.domain import FORGOTTEN_EVENT
from bot.usage import day_start
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, member, with_key
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
BOB = member("bob")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, db_path: Path) -> str:
    """Overrides conftest's: `services` opens this engine through DATABASE_URL."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{db_path}"


async def test_setkey_ask_usage_and_forget(services: Services, fake_openai: FakeOpenAI) -> None:
    key = await with_key(services, fake_openai, ALICE)
    bob_key = await with_key(services, fake_openai, BOB)
    stored = await services.store.get_key(ALICE)
    assert stored is not None and services.vault.open(ALICE, stored.sealed) == key

    sink = RecordingSink()
    turn = await services.core.handle_message(ask(ALICE, "one two three"), sink)
    assert turn is not None and turn.failure is None
    assert sink.text == "You asked: one two three"
    assert fake_openai.chat_requests()[-1].authorization == f"Bearer {key}"
    await services.ledger.flush()
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.last_used_at is not None

    await services.ledger.flush()
    used = await services.store.usage_by_model(ALICE, since=day_start(stored.last_used_at))
    assert [(u.calls, u.prompt_tokens > 0, u.completion_tokens > 0) for u in used] == [
        (1, True, True)
    ]
    usage_reply = await services.commands.run(ALICE, "usage")
    assert usage_reply.ok

    forgotten = await services.commands.forget(ALICE)
    assert forgotten.ok
    assert await services.store.get_key(ALICE) is None
    assert await services.store.usage_by_model(ALICE, since=day_start(stored.set_at)) == []
    assert await services.store.audit_events(member=ALICE) == []
    assert FORGOTTEN_EVENT in [e.event for e in await services.store.audit_events()]

    # Bob was never touched, and Alice without a key is told privately how to add one.
    bob_sink = RecordingSink()
    answered = await services.core.handle_message(ask(BOB, "hello"), bob_sink)
    assert answered is not None and answered.failure is None
    assert fake_openai.chat_requests()[-1].authorization == f"Bearer {bob_key}"
    alice_sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hello again"), alice_sink)
    assert alice_sink.appended == [] and alice_sink.privates


async def test_a_rejected_key_is_marked_invalid_and_removed_on_request(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    fake_openai.behaviours[key] = openai_server.UNAUTHORIZED
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.status == "invalid"
    assert len(sink.privates) == 1
    removed = await services.commands.remove_key(ALICE)
    assert removed.ok
    assert await services.store.get_key(ALICE) is None
    assert (await services.commands.remove_key(ALICE)).text == texts.NO_KEY_TO_REMOVE
