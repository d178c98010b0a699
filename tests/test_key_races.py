"""Races between a turn in flight and the member changing their key or forgetting themselves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import pytest

from app.services import Services
from bot import texts
from bot.domain import Member
from bot.ports import FailureKind
from storage.sqlite import SqliteStore
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, member, with_key
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
# A test waiting longer than this for the fake provider is failing, not slow.
WAIT = 10.0


async def test_a_late_401_for_a_replaced_key_leaves_the_new_key_valid(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    old = await with_key(services, fake_openai, ALICE)
    # The old key was revoked at the provider; its answer is held until the member has
    # replaced it.
    fake_openai.behaviours[old] = openai_server.UNAUTHORIZED
    gate = fake_openai.hold(old)
    sink = RecordingSink()
    turn = asyncio.create_task(services.core.handle_message(ask(ALICE, "hi"), sink))
    await asyncio.wait_for(fake_openai.chat_arrived.wait(), WAIT)
    new = await with_key(services, fake_openai, ALICE)
    gate.set()
    result = await asyncio.wait_for(turn, WAIT)

    assert result is not None and result.failure is FailureKind.UNAUTHORIZED
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.status == "valid"
    assert services.vault.open(ALICE, stored.sealed) == new
    assert sink.privates == [texts.STALE_KEY_REJECTED]
    events = [e.event for e in await services.store.audit_events(member=ALICE)]
    assert "provider_auth_failed" not in events

    # Not locked out: the next question is answered with the new key.
    again = RecordingSink()
    answered = await services.core.handle_message(ask(ALICE, "hello again"), again)
    assert answered is not None and answered.failure is None
    assert fake_openai.chat_requests()[-1].authorization == f"Bearer {new}"


async def test_a_401_for_the_stored_key_still_marks_it_invalid(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    fake_openai.behaviours[key] = openai_server.UNAUTHORIZED
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.status == "invalid"
    assert sink.privates == [texts.provider_failure(FailureKind.UNAUTHORIZED)]


async def test_model_command_with_a_replaced_key_leaves_the_new_key_alone(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    old = await with_key(services, fake_openai, ALICE)
    stored_old = await services.store.get_key(ALICE)
    assert stored_old is not None
    fake_openai.behaviours[old] = openai_server.UNAUTHORIZED
    await with_key(services, fake_openai, ALICE)
    # What /model would do had it opened the old key just before the new one was set.
    assert not await services.commands.key_rejected(ALICE, stored_old.key_id)
    stored = await services.store.get_key(ALICE)
    assert stored is not None and stored.status == "valid"


async def test_keys_stored_before_the_key_id_existed_get_one(tmp_path: Path) -> None:
    from storage.sqlite import migrations

    path = tmp_path / "s.sqlite3"
    async with aiosqlite.connect(path) as db:
        await db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at)")
        for migration in migrations()[:2]:
            await db.executescript(migration.script)
            await db.execute("INSERT INTO schema_version VALUES (?, 'then')", (migration.version,))
        for user in ("U1", "U2"):
            await db.execute(
                "INSERT INTO member_keys (platform, workspace, user_id, sealed, masked, status,"
                " set_at) VALUES ('slack', 'T1', ?, x'00', 'm', 'valid', '2026-01-01T00:00:00')",
                (user,),
            )
        await db.commit()
    change = await SqliteStore.migrate(path)
    assert [m.version for m in change.applied] == [m.version for m in migrations()[2:]]
    store = await SqliteStore.open(path)
    try:
        ids = []
        for user in ("U1", "U2"):
            stored = await store.get_key(Member("slack", "T1", user))
            assert stored is not None and len(stored.key_id) == 32
            ids.append(stored.key_id)
        assert ids[0] != ids[1]
    finally:
        await store.close()


async def rows_naming(db_path: Path, user: str) -> dict[str, int]:
    """How many rows of each table carry this user id, read straight from the file."""
    found: dict[str, int] = {}
    async with aiosqlite.connect(db_path) as db:
        tables = [r[0] for r in await db.execute_fetchall("SELECT name FROM sqlite_master")]
        for table in tables:
            columns = [r[1] for r in await db.execute_fetchall(f"PRAGMA table_info({table})")]
            if "user_id" in columns:
                (count,) = next(
                    iter(
                        await db.execute_fetchall(
                            f"SELECT COUNT(*) FROM {table} WHERE user_id = ?",  # noqa: S608
                            (user,),
                        )
                    )
                )
                if count:
                    found[table] = count
    return found


@pytest.mark.parametrize(
    ("behaviour", "mid_stream"),
    [(openai_server.VALID, True), (openai_server.UNAUTHORIZED, False)],
    ids=["during-the-stream", "before-a-late-401"],
)
async def test_forget_during_an_answer_leaves_no_row_naming_the_member(
    services: Services,
    fake_openai: FakeOpenAI,
    db_path: Path,
    behaviour: str,
    mid_stream: bool,
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    fake_openai.behaviours[key] = behaviour
    gate = fake_openai.hold(key, mid_stream=mid_stream)
    sink = RecordingSink()
    turn = asyncio.create_task(services.core.handle_message(ask(ALICE, "a long one"), sink))
    arrived = fake_openai.first_piece_sent if mid_stream else fake_openai.chat_arrived
    await asyncio.wait_for(arrived.wait(), WAIT)

    reply = await asyncio.wait_for(services.commands.run(ALICE, "forget"), WAIT)
    assert reply.text == texts.FORGOTTEN
    # The provider answers only now, after /forget has returned.
    gate.set()
    result = await asyncio.wait_for(turn, WAIT)
    await services.ledger.flush()

    assert await rows_naming(db_path, ALICE.user) == {}
    events = await services.store.audit_events()
    assert [(e.event, e.user) for e in events] == [("member_data_forgotten", None)]
    # The turn was stopped rather than finished.
    assert result is None
    # The stopped answer was closed on the platform, not left hanging.
    assert (sink.started, sink.finished) == (1, 1)


async def test_an_uninstall_during_an_answer_leaves_no_row_of_the_workspace(
    services: Services, fake_openai: FakeOpenAI, db_path: Path
) -> None:
    carol = Member("slack", "T9", "UCAROL")
    key = await with_key(services, fake_openai, carol)
    gate = fake_openai.hold(key, mid_stream=True)
    turn = asyncio.create_task(services.core.handle_message(ask(carol, "hi"), RecordingSink()))
    await asyncio.wait_for(fake_openai.first_piece_sent.wait(), WAIT)
    assert await services.core.forget_workspace("slack", "T9") == 1
    gate.set()
    assert await asyncio.wait_for(turn, WAIT) is None
    await services.ledger.flush()
    assert await rows_naming(db_path, carol.user) == {}


async def test_a_question_while_forget_runs_is_not_started() -> None:
    from bot.turns import TurnsInFlight

    turns = TurnsInFlight()
    started: list[str] = []

    async def work() -> str:
        started.append("yes")
        return "answered"

    async with turns.stopped(lambda who: who == ALICE):
        assert not turns.accepting(ALICE)
        assert await turns.run(ALICE, work()) is None
        assert await turns.run(member("bob"), work()) == "answered"
    assert started == ["yes"]
    assert await turns.run(ALICE, work()) == "answered"
