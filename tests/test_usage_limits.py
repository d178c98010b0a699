"""The usage ledger, /usage, /limit, operator limits and server-wide caps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.services import Services, open_services
from app.settings import Settings
from bot import texts
from bot.domain import Cap, WorkspaceConfig
from bot.limits import ClearCaps, SetCap, ShowCaps, parse_limit
from bot.usage import day_start
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, make_settings, member, with_key
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
BOB = member("bob")


def _settings(fake: FakeOpenAI, master_key: str, db_path: Path, **overrides: object) -> Settings:
    return make_settings(
        fake, master_keys=master_key, database_url=f"sqlite:///{db_path}", **overrides
    )


@pytest.fixture
async def no_stream_services(
    fake_openai: FakeOpenAI, master_key: str, db_path: Path
) -> AsyncIterator[Services]:
    opened = await open_services(_settings(fake_openai, master_key, db_path, byok_streaming=False))
    yield opened
    await opened.close()


async def _stored_usage(services: Services) -> list[tuple[str, str, int, int, str]]:
    await services.ledger.flush()
    db = services.store._db  # type: ignore[attr-defined]
    async with db.execute(
        "SELECT user_id, model, prompt_tokens, completion_tokens, outcome FROM usage_events"
        " ORDER BY id"
    ) as cur:
        return [tuple(row) for row in await cur.fetchall()]


async def _fast_sleep(seconds: float) -> None:
    return None


async def test_ledger_matches_what_the_provider_reported_streamed_and_errors(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    services.core._conversation._sleep = _fast_sleep
    await with_key(services, fake_openai, ALICE)
    await with_key(services, fake_openai, BOB, openai_server.RATE_LIMITED_ONCE)
    await services.core.handle_message(ask(ALICE, "how many tokens is this"), RecordingSink())
    await services.core.handle_message(ask(BOB, "and this one"), RecordingSink())
    rows = await _stored_usage(services)
    alice_usage, bob_usage = fake_openai.reported_usage
    assert rows == [
        (
            "alice",
            "gpt-5-mini",
            alice_usage["prompt_tokens"],
            alice_usage["completion_tokens"],
            "ok",
        ),
        ("bob", "gpt-5-mini", 0, 0, "rate_limited"),
        ("bob", "gpt-5-mini", bob_usage["prompt_tokens"], bob_usage["completion_tokens"], "ok"),
    ]
    assert alice_usage["completion_tokens"] > 0


async def test_ledger_matches_non_streamed_calls(
    no_stream_services: Services, fake_openai: FakeOpenAI
) -> None:
    services = no_stream_services
    await with_key(services, fake_openai, ALICE)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "no streaming please"), sink)
    assert sink.text == "You asked: no streaming please"
    body = fake_openai.chat_requests()[-1].body
    assert body is not None and not body["stream"]
    (reported,) = fake_openai.reported_usage
    assert await _stored_usage(services) == [
        ("alice", "gpt-5-mini", reported["prompt_tokens"], reported["completion_tokens"], "ok")
    ]


@pytest.mark.parametrize(
    "behaviour",
    [openai_server.NO_CREDIT, openai_server.MODEL_NOT_FOUND, openai_server.CUT],
)
async def test_a_failed_call_records_its_outcome_and_no_tokens(
    services: Services, fake_openai: FakeOpenAI, behaviour: str
) -> None:
    await with_key(services, fake_openai, ALICE, behaviour)
    turn = await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    assert turn is not None and turn.failure is not None
    assert await _stored_usage(services) == [("alice", "gpt-5-mini", 0, 0, turn.failure.value)]


async def test_usage_rows_are_written_in_batches_off_the_answer_path(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await services.ledger.close()  # stop the background flusher to look at the buffer
    await with_key(services, fake_openai, ALICE)
    await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    db = services.store._db  # type: ignore[attr-defined]
    async with db.execute("SELECT COUNT(*) FROM usage_events") as cur:
        assert (await cur.fetchone())[0] == 0
    # ...yet /usage already counts the buffered row.
    assert "This month*: " in (await services.commands.run(ALICE, "usage")).text
    assert (await services.ledger.by_model(ALICE, since=day_start(datetime.now(UTC))))[0].calls == 1
    services.ledger._flush_interval = 0.01
    services.ledger.start()
    for _ in range(500):
        async with db.execute("SELECT COUNT(*) FROM usage_events") as cur:
            if (await cur.fetchone())[0] == 1:
                break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the background flush never wrote the row")


async def test_usage_shows_tokens_and_estimated_cost(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    text = (await services.commands.run(ALICE, "usage")).text
    assert "Today (UTC)*: 0 tokens" in text and "No caps set" in text
    await services.core.handle_message(ask(ALICE, "what does this cost"), RecordingSink())
    (reported,) = fake_openai.reported_usage
    total = reported["prompt_tokens"] + reported["completion_tokens"]
    text = (await services.commands.run(ALICE, "usage")).text
    assert f"Today (UTC)*: {total:,} tokens" in text
    expected = services.ledger.prices.cost(
        "gpt-5-mini", reported["prompt_tokens"], reported["completion_tokens"]
    )
    assert expected is not None and f"≈ ${expected:,.4f}" in text
    assert f"Prices as read on {services.ledger.prices.read_on}" in text


async def test_a_model_missing_from_the_price_table_shows_cost_unknown(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.models = ("mystery-model-1",)
    await with_key(services, fake_openai, ALICE)
    assert (await services.commands.run(ALICE, "model", "mystery-model-1")).ok
    await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    text = (await services.commands.run(ALICE, "usage")).text
    assert "cost unknown" in text and "$" not in text.split("Prices")[0]


def test_dated_snapshots_use_their_family_price(services: Services) -> None:
    prices = services.ledger.prices
    assert prices.price_of("gpt-4o-2024-08-06") == prices.price_of("gpt-4o")
    assert prices.price_of("gpt-4o-mini-2024-07-18") == prices.price_of("gpt-4o-mini")
    assert prices.price_of("totally-new-model") is None


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("", ShowCaps()),
        ("off", ClearCaps()),
        ("daily off", SetCap("daily", None)),
        ("daily 2 usd", SetCap("daily", Cap(2.0, "usd"))),
        ("monthly $20", SetCap("monthly", Cap(20.0, "usd"))),
        ("daily 50k tokens", SetCap("daily", Cap(50_000.0, "tokens"))),
        ("Monthly 1.5 dollars", SetCap("monthly", Cap(1.5, "usd"))),
        ("daily 2", None),
        ("weekly 2 usd", None),
        ("daily -2 usd", None),
        ("daily 0 usd", None),
        ("daily $5 tokens", None),
        ("lots", None),
    ],
)
def test_limit_syntax(argument: str, expected: object) -> None:
    assert parse_limit(argument) == expected


async def test_limit_command_sets_shows_and_clears(services: Services) -> None:
    assert (await services.commands.run(ALICE, "limit", "daily 2 usd")).ok
    assert (await services.commands.run(ALICE, "limit", "monthly 1000 tokens")).ok
    shown = (await services.commands.run(ALICE, "limit")).text
    assert "Daily: $2.00" in shown and "Monthly: 1,000 tokens" in shown
    refused = await services.commands.run(ALICE, "limit", "daily lots")
    assert not refused.ok and refused.text == texts.LIMIT_UNCLEAR
    assert await services.store.get_caps(ALICE) == {
        "daily": Cap(2.0, "usd"),
        "monthly": Cap(1000.0, "tokens"),
    }
    await services.commands.run(ALICE, "limit", "daily off")
    assert set(await services.store.get_caps(ALICE)) == {"monthly"}
    await services.commands.run(ALICE, "limit", "off")
    assert await services.store.get_caps(ALICE) == {}


@pytest.mark.parametrize("cap", ["daily 5 tokens", "monthly $0.0000001"])
async def test_a_turn_past_the_cap_is_refused_before_any_provider_call(
    services: Services, fake_openai: FakeOpenAI, cap: str
) -> None:
    await with_key(services, fake_openai, ALICE)
    await with_key(services, fake_openai, BOB)
    await services.commands.run(ALICE, "limit", cap)
    await services.core.handle_message(ask(ALICE, "first question"), RecordingSink())
    calls = len(fake_openai.requests)
    sink = RecordingSink()
    assert await services.core.handle_message(ask(ALICE, "second question"), sink) is None
    assert len(fake_openai.requests) == calls
    assert sink.started == 0 and sink.appended == []
    period = cap.split()[0]
    assert f"your {period} cap" in sink.privates[0] and "resets" in sink.privates[0]
    now = datetime.now(UTC)
    resets = (day_start(now) + timedelta(days=1)) if period == "daily" else None
    if resets is not None:
        assert f"{resets:%Y-%m-%d %H:%M}" in sink.privates[0]
    # Other members are not affected.
    other = RecordingSink()
    await services.core.handle_message(ask(BOB, "hi"), other)
    assert other.text == "You asked: hi"
    # Clearing the cap lets the member ask again.
    await services.commands.run(ALICE, "limit", "off")
    again = RecordingSink()
    await services.core.handle_message(ask(ALICE, "third question"), again)
    assert again.text == "You asked: third question"


async def test_server_admins_cap_their_members_in_that_server_only(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    await services.core.update_workspace_config(
        member("admin"),
        WorkspaceConfig("console", "server-1", member_caps={"daily": Cap(5, "tokens")}),
    )
    await services.core.handle_message(ask(ALICE, "first"), RecordingSink())
    calls = len(fake_openai.requests)
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "second"), sink)
    assert len(fake_openai.requests) == calls
    assert "your admins' daily cap of 5 tokens" in sink.privates[0]
    # In a DM (no server) the server's cap does not apply.
    dm = RecordingSink()
    await services.core.handle_message(ask(ALICE, "in private", private=True), dm)
    assert dm.text == "You asked: in private"


async def test_one_answer_at_a_time_per_member_under_a_burst(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    fake_openai.slow_seconds = 0.5
    await with_key(services, fake_openai, ALICE, openai_server.SLOW)
    bob_key = await with_key(services, fake_openai, BOB)
    fake_openai.requests.clear()
    fake_openai.chat_arrived.clear()
    alice_sinks = [RecordingSink() for _ in range(6)]
    bob_sink = RecordingSink()

    async def bob_later() -> None:
        # Bob asks while alice's first question is still being answered.
        await fake_openai.chat_arrived.wait()
        await services.core.handle_message(ask(BOB, "bob too"), bob_sink)

    await asyncio.gather(
        *(services.core.handle_message(ask(ALICE, f"q{i}"), s) for i, s in enumerate(alice_sinks)),
        bob_later(),
    )
    answered = [s for s in alice_sinks if s.text]
    refused = [s for s in alice_sinks if s.privates == [texts.STILL_ANSWERING]]
    assert len(answered) == 1 and len(refused) == 5
    assert bob_sink.text == "You asked: bob too"
    chats = fake_openai.chat_requests()
    assert len(chats) == 2 and chats[-1].authorization == f"Bearer {bob_key}"
    # Once the answer is done the member can ask again.
    after = RecordingSink()
    await services.core.handle_message(ask(ALICE, "next"), after)
    assert after.text == "You asked: next"


async def test_a_turn_longer_than_its_lease_keeps_the_slot_by_renewing_it(
    fake_openai: FakeOpenAI, master_key: str, db_path: Path
) -> None:
    services = await open_services(
        _settings(fake_openai, master_key, db_path, byok_turn_lease_seconds=1)
    )
    try:
        key = await with_key(services, fake_openai, ALICE)
        gate = fake_openai.hold(key)
        long_turn = asyncio.create_task(
            services.core.handle_message(ask(ALICE, "long"), RecordingSink())
        )
        await fake_openai.chat_arrived.wait()
        # Three lease lengths later the slot is still the running turn's.
        await asyncio.sleep(3)
        sink = RecordingSink()
        await services.core.handle_message(ask(ALICE, "meanwhile"), sink)
        assert sink.privates == [texts.STILL_ANSWERING]
        gate.set()
        await long_turn
        sink = RecordingSink()
        await services.core.handle_message(ask(ALICE, "after"), sink)
        assert sink.text == "You asked: after"
    finally:
        await services.close()


async def test_requests_per_minute_per_member(
    fake_openai: FakeOpenAI, master_key: str, db_path: Path
) -> None:
    services = await open_services(
        _settings(fake_openai, master_key, db_path, byok_requests_per_minute=2)
    )
    try:
        await with_key(services, fake_openai, ALICE)
        await with_key(services, fake_openai, BOB)
        for question in ("one", "two"):
            sink = RecordingSink()
            await services.core.handle_message(ask(ALICE, question), sink)
            assert sink.text
        calls = len(fake_openai.requests)
        sink = RecordingSink()
        await services.core.handle_message(ask(ALICE, "three"), sink)
        assert len(fake_openai.requests) == calls
        assert "2 a minute" in sink.privates[0] and "Try again in" in sink.privates[0]
        other = RecordingSink()
        await services.core.handle_message(ask(BOB, "hi"), other)
        assert other.text
    finally:
        await services.close()


async def test_max_output_tokens_is_sent(
    fake_openai: FakeOpenAI, master_key: str, db_path: Path
) -> None:
    services = await open_services(
        _settings(fake_openai, master_key, db_path, byok_max_output_tokens=77)
    )
    try:
        await with_key(services, fake_openai, ALICE)
        await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
        body = fake_openai.chat_requests()[-1].body
        assert body is not None and body["max_completion_tokens"] == 77
    finally:
        await services.close()
