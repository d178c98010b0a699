"""The audit trail: who did what to keys, never key material or message text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.services import Services
from bot.domain import WorkspaceConfig
from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import RecordingSink, ask, make_key, member, seed_keys, with_key
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
BOB = member("bob")
SECRET_QUESTION = "my secret question about platypus migration"


async def _all_rows(services: Services, table: str) -> list[tuple[object, ...]]:
    db = services.store._db  # type: ignore[attr-defined]
    async with db.execute(f"SELECT * FROM {table}") as cur:  # noqa: S608
        return [tuple(row) for row in await cur.fetchall()]


async def _session(services: Services, fake: FakeOpenAI) -> list[str]:
    keys = [await with_key(services, fake, ALICE)]
    refused = make_key()
    keys.append(refused)
    await services.commands.set_key(ALICE, refused)
    await services.commands.set_key(ALICE, "sk-admin-" + "z" * 40)
    await services.core.handle_message(ask(ALICE, SECRET_QUESTION), RecordingSink())
    leaked = make_key()
    keys.append(leaked)
    await services.core.handle_message(ask(ALICE, f"{SECRET_QUESTION} {leaked}"), RecordingSink())
    fake.behaviours[keys[0]] = openai_server.UNAUTHORIZED
    await services.core.handle_message(ask(ALICE, SECRET_QUESTION), RecordingSink())
    await services.core.update_workspace_config(
        BOB, WorkspaceConfig("console", "server-1", default_model="gpt-4o")
    )
    await services.commands.run(ALICE, "removekey")
    return keys


async def test_every_key_event_is_recorded(services: Services, fake_openai: FakeOpenAI) -> None:
    await _session(services, fake_openai)
    events = [(e.user, e.event, e.outcome) for e in reversed(await services.store.audit_events())]
    assert events == [
        ("alice", "key_validated", "ok"),
        ("alice", "key_set", "ok"),
        ("alice", "key_refused", "unauthorized"),
        ("alice", "key_refused", "malformed"),
        ("alice", "leak_detected", "deleted"),
        ("alice", "provider_auth_failed", "unauthorized"),
        ("bob", "admin_config_changed", "ok"),
        ("alice", "key_removed", "ok"),
    ]
    leak = next(e for e in await services.store.audit_events() if e.event == "leak_detected")
    assert (leak.platform, leak.place) == ("console", "general")


async def test_the_audit_trail_never_holds_a_key_or_message_text(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    keys = await _session(services, fake_openai)
    dumped = repr(await _all_rows(services, "audit_events"))
    for key in keys:
        assert key not in dumped and key[8:30] not in dumped
    assert "platypus" not in dumped
    usage = repr(await _all_rows(services, "usage_events"))
    assert "platypus" not in usage and all(key not in usage for key in keys)


async def test_mykey_shows_the_last_five_events(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await with_key(services, fake_openai, ALICE)
    for _ in range(3):
        await services.commands.set_key(ALICE, "bad key with spaces")
    await services.commands.run(ALICE, "model")
    text = (await services.commands.run(ALICE, "mykey")).text
    recent = text.split("Recent events:")[1].strip().splitlines()
    assert len(recent) == 5
    assert "key validated" in recent[0]
    assert sum("key refused (malformed)" in line for line in recent) == 3


async def test_forget_leaves_nothing_of_the_member_but_one_anonymous_event(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await _session(services, fake_openai)
    await with_key(services, fake_openai, ALICE)
    await services.commands.run(ALICE, "limit", "daily 2 usd")
    await services.commands.run(ALICE, "model", "gpt-4o")
    await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    await with_key(services, fake_openai, BOB)
    await services.ledger.flush()

    await services.commands.run(ALICE, "forget")
    await services.ledger.flush()
    for table in ("member_keys", "member_prefs", "member_caps", "usage_events", "audit_events"):
        rows = await _all_rows(services, table)
        assert not any("alice" in row for row in rows), table
    forgotten = [
        e for e in await services.store.audit_events() if e.event == "member_data_forgotten"
    ]
    assert len(forgotten) == 1 and forgotten[0].user is None
    assert await services.store.get_key(BOB) is not None


async def test_uninstall_wipes_the_workspace_and_leaves_an_anonymous_event(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    team_member = member("U1", platform="slack", workspace="T1")
    other_team = member("U2", platform="slack", workspace="T2")
    await with_key(services, fake_openai, team_member)
    await with_key(services, fake_openai, other_team)
    assert await services.core.forget_workspace("slack", "T1") == 1
    assert await services.store.get_key(team_member) is None
    assert await services.store.get_key(other_team) is not None
    events = await services.store.audit_events()
    assert not any(e.workspace == "T1" and e.user for e in events)
    assert any(e.event == "workspace_forgotten" and e.workspace == "T1" for e in events)


async def test_audit_command_filters_and_prints_json(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    database_url = f"sqlite:///{tmp_path}/db.sqlite3"
    master = generate_master_key()
    keys = await seed_keys(
        fake_openai, master_keys=master, database_url=database_url, names=["alice", "bob"]
    )
    key = keys["alice"]
    env = {"BYOK_MASTER_KEYS": master, "DATABASE_URL": database_url}

    code, out, err = await run_cli("audit", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "alice" in out and "bob" in out and "key_set" in out
    assert key not in out

    code, out, _ = await run_cli("audit", "--user", "alice", "--json", cwd=tmp_path, env=env)
    records = [json.loads(line) for line in out.splitlines()]
    assert records and {r["user"] for r in records} == {"alice"}
    assert {"at", "platform", "workspace", "event", "outcome"} <= set(records[0])

    code, out, _ = await run_cli("audit", "--since", "2999-01-01", cwd=tmp_path, env=env)
    assert code == 0 and "No audit events match." in out

    code, _, err = await run_cli("audit", "--since", "yesterday-ish", cwd=tmp_path, env=env)
    assert code == 2 and "not a date" in err


@pytest.mark.parametrize("outcome_source", ["deleted", "not_deleted"])
async def test_leak_outcome_says_whether_the_message_went(
    services: Services, outcome_source: str
) -> None:
    sink = RecordingSink(can_delete=outcome_source == "deleted")
    await services.core.handle_message(ask(ALICE, f"look {make_key()}"), sink)
    (event,) = await services.store.audit_events()
    assert event.event == "leak_detected" and event.outcome == outcome_source


async def test_forget_drops_usage_rows_not_yet_written(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await services.ledger.close()  # no background flush: the row stays waiting
    await with_key(services, fake_openai, ALICE)
    await services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
    await services.commands.run(ALICE, "forget")
    await services.ledger.flush()
    rows = await _all_rows(services, "usage_events")
    assert not any("alice" in row for row in rows)


async def test_uninstall_drops_usage_rows_not_yet_written(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    await services.ledger.close()
    team_member = member("U1", platform="slack", workspace="T1")
    await with_key(services, fake_openai, team_member)
    await services.core.handle_message(ask(team_member, "hi"), RecordingSink())
    await services.core.forget_workspace("slack", "T1")
    await services.ledger.flush()
    assert await _all_rows(services, "usage_events") == []
