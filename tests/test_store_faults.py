"""Every write can fail (disk full, locked, I/O error, connection lost): the member is told
what did and did not happen, nothing is claimed that was not written, and the bot keeps
serving. Driven through every member command, an admin setting and a full turn."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

import app.services
from adapters.console import ConsoleAdapter
from app.services import Services, open_services
from app.settings import Settings
from bot import texts
from bot.admin import SettingsRequest
from bot.domain import Cap, Reply
from bot.ports import Lease, Store, StoreError
from bot.usage import day_start
from storage import open_store
from storage.settings import StorageSettings
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, make_key, member, with_key
from tests.fakes.faults import CAUSES, FailingStore
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")


@pytest.fixture
async def failing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Services, FailingStore]]:
    wrapped: list[FailingStore] = []

    async def open_failing(storage: StorageSettings) -> Store:
        store = FailingStore(await open_store(storage))
        wrapped.append(store)
        return store

    monkeypatch.setattr(app.services, "open_store", open_failing)
    services = await open_services(settings)
    yield services, wrapped[0]
    wrapped[0].heal()
    await services.close()


@dataclass(frozen=True)
class Scenario:
    """A command, and what its reply must mean for the stored state."""

    name: str
    prepare: Callable[[Services, FakeOpenAI], Awaitable[None]]
    act: Callable[[Services, FakeOpenAI], Awaitable[Reply]]
    # Given the reply, is the state what the reply says?
    holds: Callable[[Services, Reply], Awaitable[bool]]


async def _nothing(services: Services, fake: FakeOpenAI) -> None:
    return None


async def _no_settings(services: Services, fake: FakeOpenAI) -> None:
    await services.store.delete_workspace("console", "server-1")


async def _with_key(services: Services, fake: FakeOpenAI) -> None:
    await with_key(services, fake, ALICE)


async def _setkey(services: Services, fake: FakeOpenAI) -> Reply:
    key = make_key()
    fake.behaviours[key] = openai_server.VALID
    return await services.commands.run(ALICE, "setkey", key)


async def _key_stored(services: Services, reply: Reply) -> bool:
    stored = await services.store.get_key(ALICE) is not None
    return stored if reply.ok else not stored and reply.text == texts.KEY_NOT_SAVED


async def _key_removed(services: Services, reply: Reply) -> bool:
    gone = await services.store.get_key(ALICE) is None
    if reply.text == texts.KEY_REMOVED:
        return gone
    return not gone and reply.text == texts.KEY_NOT_REMOVED


async def _model_chosen(services: Services, reply: Reply) -> bool:
    chosen = await services.store.get_model(ALICE) == "gpt-4o"
    return chosen if reply.ok else not chosen and reply.text == texts.STORE_UNAVAILABLE


async def _cap_set(services: Services, reply: Reply) -> bool:
    caps = await services.store.get_caps(ALICE)
    if reply.ok:
        return caps == {"daily": Cap(2.0, "usd")}
    return caps == {} and reply.text == texts.STORE_UNAVAILABLE


async def _forgotten(services: Services, reply: Reply) -> bool:
    gone = await services.store.get_key(ALICE) is None
    if reply.text == texts.FORGOTTEN:
        return gone
    return not gone and reply.text == texts.FORGET_FAILED


async def _configured(services: Services, reply: Reply) -> bool:
    config = await services.store.get_workspace_config("console", "server-1")
    chosen = config.default_model == "gpt-4o"
    return chosen if reply.ok else not chosen and reply.text == texts.STORE_UNAVAILABLE


async def _configure(services: Services, fake: FakeOpenAI) -> Reply:
    return await services.core.configure_workspace(
        ALICE,
        workspace="server-1",
        request=SettingsRequest(model="gpt-4o"),
        channel_id=lambda word: word,
        place="server",
    )


async def _instructions_set(services: Services, reply: Reply) -> bool:
    kept = await services.store.get_instructions(ALICE) == "Be brief."
    return kept if reply.ok else not kept and reply.text == texts.STORE_UNAVAILABLE


async def _configure_prompts(services: Services, fake: FakeOpenAI) -> Reply:
    return await services.core.configure_workspace(
        ALICE,
        workspace="server-1",
        request=SettingsRequest(prompt="Rules.", channel_prompt="SQL."),
        channel_id=lambda word: word,
        place="server",
        here="general",
    )


async def _prompts_configured(services: Services, reply: Reply) -> bool:
    config = await services.store.get_workspace_config("console", "server-1")
    both = config.system_prompt == "Rules." and config.channel_prompts == {"general": "SQL."}
    none = config.system_prompt is None and config.channel_prompts == {}
    return both if reply.ok else none and reply.text == texts.STORE_UNAVAILABLE


SCENARIOS = [
    Scenario("setkey", _nothing, _setkey, _key_stored),
    Scenario(
        "removekey",
        _with_key,
        lambda s, f: s.commands.run(ALICE, "removekey"),
        _key_removed,
    ),
    Scenario(
        "model", _with_key, lambda s, f: s.commands.run(ALICE, "model", "gpt-4o"), _model_chosen
    ),
    Scenario(
        "limit", _nothing, lambda s, f: s.commands.run(ALICE, "limit", "daily 2 usd"), _cap_set
    ),
    Scenario("forget", _with_key, lambda s, f: s.commands.run(ALICE, "forget"), _forgotten),
    Scenario("byok-config", _no_settings, _configure, _configured),
    Scenario(
        "instructions",
        _nothing,
        lambda s, f: s.commands.run(ALICE, "instructions", "Be brief."),
        _instructions_set,
    ),
    Scenario("byok-config-prompts", _no_settings, _configure_prompts, _prompts_configured),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
@pytest.mark.parametrize("cause", sorted(CAUSES))
async def test_each_write_of_each_command_can_fail_and_the_reply_tells_the_truth(
    failing: tuple[Services, FailingStore],
    fake_openai: FakeOpenAI,
    scenario: Scenario,
    cause: str,
) -> None:
    services, store = failing
    store.cause = cause
    await scenario.prepare(services, fake_openai)
    # How many writes the command makes when all goes well, on a throwaway member...
    writes = store.writes
    await scenario.act(services, fake_openai)
    healthy_writes = store.writes - writes
    assert healthy_writes > 0, scenario.name
    for n in range(1, healthy_writes + 1):
        # ... then the same command with its n-th write failing, from the same start.
        await services.commands.forget(ALICE)
        await scenario.prepare(services, fake_openai)
        store.fail_write(n)
        reply = await scenario.act(services, fake_openai)
        store.heal()
        assert await scenario.holds(services, reply), (scenario.name, n, store.failed, reply)
    # And the bot still serves.
    await services.commands.forget(ALICE)
    await with_key(services, fake_openai, ALICE)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "still there?"), sink)
    assert sink.text == "You asked: still there?"


async def test_a_database_that_cannot_be_read_is_told_and_nothing_is_asked(
    failing: tuple[Services, FailingStore], fake_openai: FakeOpenAI
) -> None:
    services, store = failing
    await with_key(services, fake_openai, ALICE)
    store.fail_reads = True
    for name, argument in (("mykey", ""), ("model", ""), ("usage", ""), ("limit", "")):
        reply = await services.commands.run(ALICE, name, argument)
        assert reply.text == texts.STORE_UNAVAILABLE, name
    sink = RecordingSink()
    assert await services.core.handle_message(ask(ALICE, "hello"), sink) is None
    assert sink.privates == [texts.STORE_UNAVAILABLE]
    assert fake_openai.chat_requests() == []
    # A DM turn, which reads no workspace settings, is stopped at the key.
    sink = RecordingSink()
    assert await services.core.handle_message(ask(ALICE, "hello", private=True), sink) is None
    assert sink.privates == [texts.STORE_UNAVAILABLE]
    store.heal()
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hello"), sink)
    assert sink.text == "You asked: hello"


async def test_an_answered_turn_stands_when_its_bookkeeping_cannot_be_written(
    failing: tuple[Services, FailingStore],
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    services, store = failing
    await with_key(services, fake_openai, ALICE)
    store.fail_writes = True
    sink = RecordingSink()
    with caplog.at_level(logging.WARNING):
        turn = await services.core.handle_message(ask(ALICE, "hello"), sink)
        assert turn is not None and turn.failure is None
        assert sink.text == "You asked: hello" and sink.privates == []
        # The usage row and the `last used` time wait, and are written once the disk is back.
        with pytest.raises(StoreError):
            await services.ledger.flush()
    assert services.ledger.unwritten_rows == 1
    store.heal()
    await services.ledger.flush()
    assert services.ledger.unwritten_rows == 0
    usage = await services.store.usage_by_model(ALICE, since=day_start(services.ledger.now()))
    assert [u.calls for u in usage] == [1]
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.last_used_at is not None


async def test_a_leak_warning_is_given_even_when_its_audit_event_cannot_be_written(
    failing: tuple[Services, FailingStore],
) -> None:
    services, store = failing
    store.fail_writes = True
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, f"here: {make_key()}"), sink)
    assert sink.delete_attempts == 1
    assert len(sink.privates) == 1 and "revoke" in sink.privates[0]


async def test_shutdown_reports_unwritten_rows_instead_of_raising(
    failing: tuple[Services, FailingStore],
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    services, store = failing
    await with_key(services, fake_openai, ALICE)
    await services.core.handle_message(ask(ALICE, "hello"), RecordingSink())
    store.fail_writes = True
    with caplog.at_level(logging.ERROR):
        await services.ledger.close()
    assert "1 usage rows could not be written before stopping" in caplog.text


async def test_the_console_keeps_serving_through_database_faults(
    failing: tuple[Services, FailingStore], fake_openai: FakeOpenAI
) -> None:
    services, store = failing
    out = io.StringIO()
    console = ConsoleAdapter(
        core=services.core, commands=services.commands, stdin=io.BytesIO(), stdout=out
    )
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    store.fail_writes = True
    for line in (f"/setkey {key}", "/limit daily 1 usd", "/forget"):
        await console.handle_line(line)
    store.heal()
    await console.handle_line(f"/setkey {key}")
    await console.handle_line("hello")
    shown = out.getvalue()
    assert texts.KEY_NOT_SAVED in shown
    assert texts.STORE_UNAVAILABLE in shown and texts.FORGET_FAILED in shown
    assert "bot: You asked: hello" in shown
    assert key not in shown


def test_every_write_of_the_store_protocol_is_covered() -> None:
    from bot.ports import Store as Protocol
    from tests.fakes.faults import STATE_WRITES, WRITES

    reads = {
        "close",
        "master_key_fingerprints",
        "get_key",
        "member_keys",
        "count_keys",
        "get_model",
        "get_instructions",
        "usage_by_model",
        "get_caps",
        "audit_events",
        "get_workspace_config",
        "turn_context",
        "find_installation",
    }
    methods = {
        name
        for kind in Protocol.__mro__
        if kind.__module__ == Protocol.__module__
        for name in vars(kind)
        if not name.startswith("_")
    }
    every = WRITES | STATE_WRITES | reads
    assert methods == every, methods ^ every


async def test_an_answered_turn_makes_no_database_write_on_its_path(
    failing: tuple[Services, FailingStore], fake_openai: FakeOpenAI
) -> None:
    """Its usage row and `last used` time ride with the next batch: the turn's latency
    ends when its answer ends, not after a disk-synced write. Its only writes are the shared
    state's two: the slot and the minute's window taken together, then the slot released."""
    services, store = failing
    await with_key(services, fake_openai, ALICE)
    writes, state_writes = store.writes, store.state_writes
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hello"), sink)
    assert sink.text == "You asked: hello"
    assert store.writes == writes
    assert store.state_writes == state_writes + 2
    await services.ledger.flush()
    assert store.writes == writes + 1


async def test_a_turn_whose_slot_cannot_be_taken_asks_nothing(
    failing: tuple[Services, FailingStore], fake_openai: FakeOpenAI
) -> None:
    """The slot and the window are the limits every process shares: without them no
    provider call is made, and the member is told to try again."""
    services, store = failing
    await with_key(services, fake_openai, ALICE)
    store.fail_state = True
    sink = RecordingSink()
    assert await services.core.handle_message(ask(ALICE, "hello"), sink) is None
    assert sink.privates == [texts.STORE_UNAVAILABLE]
    assert fake_openai.chat_requests() == []
    # A key check is not made either: its try could not be counted.
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    reply = await services.commands.set_key(ALICE, key)
    assert reply.text == texts.STORE_UNAVAILABLE
    assert fake_openai.authorizations("/models").count(f"Bearer {key}") == 0
    store.heal()
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hello"), sink)
    assert sink.text == "You asked: hello"


async def test_a_slot_that_cannot_be_released_frees_itself_when_its_lease_ends(
    failing: tuple[Services, FailingStore],
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    services, store = failing
    await with_key(services, fake_openai, ALICE)
    limits = services.core._conversation._limits
    start = datetime.now(UTC)
    limits._clock = lambda: start
    real_release = store._store.release_lease

    async def failing_release(lease: Lease) -> None:
        raise StoreError("database write failed: connection lost")

    store._store.release_lease = failing_release  # type: ignore[method-assign]
    sink = RecordingSink()
    with caplog.at_level(logging.WARNING):
        await services.core.handle_message(ask(ALICE, "hello"), sink)
    assert sink.text == "You asked: hello"
    assert "frees itself when it expires" in caplog.text
    store._store.release_lease = real_release  # type: ignore[method-assign]
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "again"), sink)
    assert sink.privates == [texts.STILL_ANSWERING]
    limits._clock = lambda: start + limits._lease_for
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "again"), sink)
    assert sink.text == "You asked: again"


async def test_setkey_tells_the_fitted_model_only_when_it_was_written(
    failing: tuple[Services, FailingStore], fake_openai: FakeOpenAI
) -> None:
    services, store = failing
    # The key cannot use the operator's default: /setkey also writes the model it picks.
    fake_openai.models = ("gpt-4o", "gpt-4.1-mini")
    told = texts.model_fallback("gpt-5-mini", "gpt-4.1-mini")

    async def setkey(who_name: str) -> Reply:
        key = make_key()
        fake_openai.behaviours[key] = openai_server.VALID
        return await services.commands.run(member(who_name), "setkey", key)

    writes = store.writes
    assert told in (await setkey("healthy")).text
    healthy_writes = store.writes - writes
    assert healthy_writes >= 2
    for n in range(1, healthy_writes + 1):
        # A new member each time: key checks per member are rate limited.
        store.fail_write(n)
        reply = await setkey(f"m{n}")
        store.heal()
        stored = await services.store.get_key(member(f"m{n}")) is not None
        fitted = await services.store.get_model(member(f"m{n}")) == "gpt-4.1-mini"
        assert stored == reply.ok, (n, store.failed, reply)
        assert fitted == (told in reply.text), (n, store.failed, reply)
