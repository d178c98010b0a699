"""The Store contract: every method, the same behaviour on every engine.

Each test runs on SQLite and on PostgreSQL (a database of this test session, emptied for
each test; skipped with the reason when no server is reachable, failed under
BYOK_REQUIRE_POSTGRES=1). What only one engine has (SQLite's pragmas and bytes on disk,
PostgreSQL's migration lock) is tested in tests/test_storage.py and tests/test_postgres.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from bot.domain import (
    FORGOTTEN_EVENT,
    AuditRecord,
    Cap,
    Member,
    ModelUsage,
    UsageRecord,
    WorkspaceConfig,
)
from bot.ports import (
    InstallationKey,
    Lease,
    RateRefusal,
    RateWindow,
    SealedInstallation,
    SlotsTaken,
    Store,
)
from storage.postgres import PostgresStore
from storage.sqlite import SqliteStore

ALICE = Member("slack", "T1", "U1")
BOB = Member("slack", "T2", "U2")
# Same user id and workspace as ALICE on another platform: a different member.
ALICE_ELSEWHERE = Member("discord", "T1", "U1")
CAROL = Member("slack", "T1", "U3")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SEALED = b"\x00\xffSEALED-" + bytes(range(256))


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    url: str

    async def open(self) -> Store:
        if self.name == "postgres":
            return await PostgresStore.open(url=self.url, pool_size=3)
        await SqliteStore.migrate(Path(self.url))
        return await SqliteStore.open(Path(self.url))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "postgres":
        return Engine("postgres", request.getfixturevalue("postgres_url"))
    return Engine("sqlite", str(tmp_path / "s.sqlite3"))


# What a pooled PostgreSQL session could carry over from one Store call to the next, since
# the pool no longer sends RESET ALL and the like on release (storage/postgres/connection.py).
SESSION_STATE = """
SELECT
    -- asyncpg itself sets `jit` back to its value after reading a type's definition.
    (SELECT count(*) FROM pg_settings
     WHERE source = 'session' AND setting IS DISTINCT FROM reset_val) AS settings,
    (SELECT count(*) FROM pg_listening_channels()) AS listens,
    (SELECT count(*) FROM pg_cursors WHERE is_holdable) AS cursors_kept,
    (SELECT count(*) FROM pg_locks
     WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks,
    (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) AS temp_tables,
    (SELECT count(*) FROM pg_prepared_statements WHERE from_sql) AS prepared_in_sql
"""


async def assert_sessions_left_clean(store: PostgresStore) -> None:
    pool = store._pool
    # Holding every connection the pool may have at once: each one of them is checked.
    async with AsyncExitStack() as held:
        connections = [
            await held.enter_async_context(pool.acquire()) for _ in range(pool.get_max_size())
        ]
        reader = store._point_reader
        if reader is not None and reader._connection is not None:
            connections.append(reader._connection)  # type: ignore[arg-type]
        for connection in connections:
            assert not connection.is_in_transaction()
            state = await connection.fetchrow(SESSION_STATE)
            assert state is not None
            assert dict(state) == dict.fromkeys(state.keys(), 0)


@pytest.fixture
async def store(engine: Engine) -> AsyncIterator[Store]:
    opened = await engine.open()
    yield opened
    try:
        if isinstance(opened, PostgresStore):
            await assert_sessions_left_clean(opened)
    finally:
        await opened.close()


async def save(store: Store, who: Member, sealed: bytes = SEALED, fp: str = "fp") -> str:
    return await store.save_key(
        who, sealed=sealed, masked="sk-proj...Ab3d", fingerprint=fp, now=NOW
    )


def usage(
    who: Member, model: str, at: datetime, *, tokens: int = 10, server: str = "S1"
) -> UsageRecord:
    return UsageRecord(
        member=who,
        server=server,
        model=model,
        prompt_tokens=tokens,
        completion_tokens=tokens * 2,
        outcome="ok",
        at=at,
    )


def audit(who: Member, event: str, at: datetime = NOW, place: str = "") -> AuditRecord:
    return AuditRecord(
        at=at,
        platform=who.platform,
        workspace=who.workspace,
        user=who.user,
        event=event,
        outcome="ok",
        place=place,
    )


# Keys


async def test_a_saved_key_reads_back_exactly(store: Store) -> None:
    assert await store.get_key(ALICE) is None
    key_id = await save(store, ALICE)
    stored = await store.get_key(ALICE)
    assert stored is not None
    assert stored.member == ALICE and stored.key_id == key_id and len(key_id) == 32
    assert stored.sealed == SEALED and isinstance(stored.sealed, bytes)
    assert stored.masked == "sk-proj...Ab3d"
    assert (stored.status, stored.set_at, stored.validated_at, stored.last_used_at) == (
        "valid",
        NOW,
        NOW,
        None,
    )
    assert stored.set_at.utcoffset() == timedelta(0)
    assert await store.get_key(ALICE_ELSEWHERE) is None


async def test_count_keys_counts_members_with_a_key(store: Store) -> None:
    assert await store.count_keys() == 0
    await save(store, ALICE)
    await save(store, ALICE_ELSEWHERE)
    await save(store, BOB)
    # A replaced key is still one member's one key.
    await save(store, ALICE, sealed=b"other")
    assert await store.count_keys() == 3
    await store.delete_key(BOB)
    assert await store.count_keys() == 2


async def test_replacing_a_key_gives_a_new_id_and_a_fresh_row(store: Store) -> None:
    first = await save(store, ALICE, b"first")
    assert await store.mark_key_invalid(ALICE, first)
    assert await store.mark_key_used(ALICE, first, NOW)
    later = NOW + timedelta(hours=1)
    second = await store.save_key(ALICE, sealed=b"second", masked="m2", fingerprint="fp", now=later)
    assert second != first
    stored = await store.get_key(ALICE)
    assert stored is not None
    assert (stored.key_id, stored.sealed, stored.masked) == (second, b"second", "m2")
    assert (stored.status, stored.set_at, stored.validated_at, stored.last_used_at) == (
        "valid",
        later,
        later,
        None,
    )


async def test_key_status_changes_only_for_the_key_id_that_is_stored(store: Store) -> None:
    first = await save(store, ALICE, b"a")
    second = await save(store, ALICE, b"b")
    assert first != second
    assert not await store.mark_key_invalid(ALICE, first)
    assert not await store.mark_key_used(ALICE, first, NOW)
    assert not await store.mark_key_validated(ALICE, first, NOW)
    stored = await store.get_key(ALICE)
    assert stored is not None and stored.key_id == second
    assert (stored.status, stored.last_used_at) == ("valid", None)

    used_at = NOW + timedelta(minutes=5)
    assert await store.mark_key_used(ALICE, second, used_at)
    assert await store.mark_key_invalid(ALICE, second)
    stored = await store.get_key(ALICE)
    assert stored is not None and (stored.status, stored.last_used_at) == ("invalid", used_at)
    validated_at = NOW + timedelta(minutes=6)
    assert await store.mark_key_validated(ALICE, second, validated_at)
    stored = await store.get_key(ALICE)
    assert stored is not None and (stored.status, stored.validated_at) == ("valid", validated_at)

    # Re-sealing under a new master key keeps the id: it is the same key.
    await store.reseal_all(lambda s: s + b"!", fingerprint="g", audit_event="r", now=NOW)
    resealed = await store.get_key(ALICE)
    assert resealed is not None and resealed.key_id == second
    # A removed key has no id left to match; another member's key is never matched.
    await save(store, BOB)
    assert not await store.mark_key_invalid(BOB, second)
    assert await store.delete_key(ALICE)
    assert not await store.mark_key_invalid(ALICE, second)
    assert not await store.mark_key_used(ALICE, second, NOW)


async def test_delete_key_says_whether_there_was_one(store: Store) -> None:
    await save(store, ALICE)
    await save(store, BOB)
    assert await store.delete_key(ALICE)
    assert not await store.delete_key(ALICE)
    assert await store.get_key(ALICE) is None
    assert await store.get_key(BOB) is not None


async def test_times_in_any_zone_are_the_same_moment(store: Store) -> None:
    elsewhere = NOW.astimezone(timezone(timedelta(hours=-5)))
    await store.save_key(ALICE, sealed=b"x", masked="m", fingerprint="f", now=elsewhere)
    stored = await store.get_key(ALICE)
    assert stored is not None and stored.set_at == NOW
    with_micros = NOW + timedelta(microseconds=123456)
    assert await store.mark_key_used(ALICE, stored.key_id, with_micros)
    stored = await store.get_key(ALICE)
    assert stored is not None and stored.last_used_at == with_micros


async def test_master_key_fingerprints_of_every_sealing_key(store: Store) -> None:
    assert await store.master_key_fingerprints() == set()
    await save(store, ALICE, fp="one")
    await save(store, BOB, fp="one")
    await save(store, CAROL, fp="two")
    assert await store.master_key_fingerprints() == {"one", "two"}


# Models


async def test_models_are_per_member_and_can_be_cleared(store: Store) -> None:
    assert await store.get_model(ALICE) is None
    await store.set_model(ALICE, "gpt-4o")
    await store.set_model(BOB, "gpt-5-mini")
    assert await store.get_model(ALICE) == "gpt-4o"
    await store.set_model(ALICE, "o3")
    assert await store.get_model(ALICE) == "o3"
    await store.set_model(ALICE, None)
    assert await store.get_model(ALICE) is None
    assert await store.get_model(BOB) == "gpt-5-mini"
    assert await store.get_model(ALICE_ELSEWHERE) is None


async def test_instructions_are_per_member_beside_the_model_and_can_be_cleared(
    store: Store,
) -> None:
    assert await store.get_instructions(ALICE) is None
    await store.set_model(ALICE, "gpt-4o")
    text = "Answer in French.\nKeep it short; use 'quotes' and \"doubles\" — and emoji 🙂"
    await store.set_instructions(ALICE, text)
    await store.set_instructions(BOB, "Be terse.")
    assert await store.get_instructions(ALICE) == text
    # One row per member holds both: setting one leaves the other alone.
    assert await store.get_model(ALICE) == "gpt-4o"
    await store.set_model(ALICE, None)
    assert await store.get_instructions(ALICE) == text
    await store.set_instructions(ALICE, None)
    assert await store.get_instructions(ALICE) is None
    assert await store.get_instructions(BOB) == "Be terse."
    assert await store.get_instructions(ALICE_ELSEWHERE) is None


# Caps


async def test_caps_per_period_replaced_and_removed(store: Store) -> None:
    assert await store.get_caps(ALICE) == {}
    await store.set_cap(ALICE, "daily", Cap(0.1, "usd"))
    await store.set_cap(ALICE, "monthly", Cap(200000, "tokens"))
    await store.set_cap(BOB, "daily", Cap(5, "usd"))
    assert await store.get_caps(ALICE) == {
        "daily": Cap(0.1, "usd"),
        "monthly": Cap(200000, "tokens"),
    }
    await store.set_cap(ALICE, "daily", Cap(1500, "tokens"))
    assert (await store.get_caps(ALICE))["daily"] == Cap(1500, "tokens")
    await store.set_cap(ALICE, "daily", None)
    assert await store.get_caps(ALICE) == {"monthly": Cap(200000, "tokens")}
    await store.set_cap(ALICE, "daily", None)  # removing what is not there is fine
    assert await store.get_caps(BOB) == {"daily": Cap(5, "usd")}
    assert await store.get_caps(ALICE_ELSEWHERE) == {}


# Usage


async def test_usage_sums_per_model_since_a_moment(store: Store) -> None:
    await store.record_usage([])
    yesterday = NOW - timedelta(days=1)
    failed = UsageRecord(ALICE, "S1", "gpt-4o", 0, 0, "rate_limited", NOW)
    await store.record_usage(
        [
            usage(ALICE, "gpt-4o", NOW),
            usage(ALICE, "gpt-4o", NOW + timedelta(seconds=1), tokens=5, server="S2"),
            usage(ALICE, "Zeta", NOW),
            usage(ALICE, "a-model", yesterday),
            failed,
            usage(BOB, "gpt-4o", NOW, tokens=1000),
            usage(ALICE_ELSEWHERE, "gpt-4o", NOW, tokens=1000),
        ]
    )
    # The moment itself counts (a day's window starts at its midnight); byte order of names.
    assert await store.usage_by_model(ALICE, since=NOW) == [
        ModelUsage("Zeta", 10, 20, 1),
        ModelUsage("gpt-4o", 15, 30, 3),
    ]
    assert await store.usage_by_model(ALICE, since=yesterday) == [
        ModelUsage("Zeta", 10, 20, 1),
        ModelUsage("a-model", 10, 20, 1),
        ModelUsage("gpt-4o", 15, 30, 3),
    ]
    assert await store.usage_by_model(ALICE, since=NOW, server="S2") == [
        ModelUsage("gpt-4o", 5, 10, 1)
    ]
    assert await store.usage_by_model(ALICE, since=NOW + timedelta(seconds=2)) == []
    assert await store.usage_by_model(CAROL, since=yesterday) == []


async def test_usage_since_a_moment_given_in_another_zone(store: Store) -> None:
    await store.record_usage([usage(ALICE, "m", NOW + timedelta(microseconds=1))])
    since = NOW.astimezone(timezone(timedelta(hours=9)))
    assert await store.usage_by_model(ALICE, since=since) == [ModelUsage("m", 10, 20, 1)]
    later = (NOW + timedelta(microseconds=2)).astimezone(timezone(timedelta(hours=-3)))
    assert await store.usage_by_model(ALICE, since=later) == []


# Audit


async def test_audit_events_newest_first_with_filters(store: Store) -> None:
    assert await store.audit_events() == []
    first = audit(ALICE, "key_set", NOW - timedelta(days=2), place="C1")
    second = audit(BOB, "key_set", NOW - timedelta(days=1))
    third = audit(ALICE, "key_validated", NOW)
    same_moment = audit(ALICE_ELSEWHERE, "key_removed", NOW)
    anonymous = AuditRecord(NOW, "slack", "T1", None, FORGOTTEN_EVENT, "ok")
    for record in (first, second, third, same_moment, anonymous):
        await store.record_audit(record)

    # Newest first; at the same moment, the later written first.
    assert await store.audit_events() == [anonymous, same_moment, third, second, first]
    assert await store.audit_events(member=ALICE) == [third, first]
    assert await store.audit_events(user="U1") == [same_moment, third, first]
    assert await store.audit_events(since=NOW - timedelta(days=1)) == [
        anonymous,
        same_moment,
        third,
        second,
    ]
    assert await store.audit_events(limit=2) == [anonymous, same_moment]
    assert await store.audit_events(member=ALICE, since=NOW, limit=5) == [third]
    assert await store.audit_events(user="nobody") == []


# Workspaces


async def test_workspace_config_defaults_saves_and_replaces(store: Store) -> None:
    assert await store.get_workspace_config("slack", "T1") == WorkspaceConfig("slack", "T1")
    config = WorkspaceConfig(
        "slack",
        "T1",
        allowed_channels=frozenset({"C2", "C1"}),
        default_model="gpt-4o",
        threaded=False,
        member_caps={"daily": Cap(2.5, "usd"), "monthly": Cap(50000, "tokens")},
        system_prompt="You help the support team.\nBe kind.",
        channel_prompts={"C1": "Answer in French.", "C2": "Only SQL; 'quoted' \"text\" 🙂"},
    )
    await store.save_workspace_config(config)
    assert await store.get_workspace_config("slack", "T1") == config
    assert await store.get_workspace_config("discord", "T1") == WorkspaceConfig("discord", "T1")

    replaced = WorkspaceConfig("slack", "T1")
    await store.save_workspace_config(replaced)
    assert await store.get_workspace_config("slack", "T1") == replaced


# A turn's context: everything a turn reads, in one round trip


async def test_a_turn_context_is_what_the_single_reads_give(store: Store) -> None:
    empty = await store.turn_context(ALICE, server="T1")
    assert empty.config == WorkspaceConfig("slack", "T1")
    assert (empty.keys, empty.model, empty.caps, empty.instructions) == ((), None, {}, None)

    await save(store, ALICE)
    await store.set_model(ALICE, "gpt-4o")
    await store.set_instructions(ALICE, "Answer in French.")
    await store.set_cap(ALICE, "daily", Cap(2.5, "usd"))
    await store.set_cap(ALICE, "monthly", Cap(50000, "tokens"))
    config = WorkspaceConfig(
        "slack",
        "T1",
        allowed_channels=frozenset({"C1"}),
        default_model="gpt-5-mini",
        threaded=False,
        member_caps={"daily": Cap(1, "usd")},
        system_prompt="Be kind.",
        channel_prompts={"C1": "Only SQL."},
    )
    await store.save_workspace_config(config)
    # Another member, another workspace's settings and another platform's: none leak in.
    await save(store, CAROL)
    await store.set_model(CAROL, "o3")
    await store.set_instructions(CAROL, "Answer in German.")
    await store.save_workspace_config(WorkspaceConfig("slack", "T2", default_model="o1"))

    context = await store.turn_context(ALICE, server="T1")
    assert context.keys == tuple(await store.member_keys(ALICE))
    assert context.key_for("openai") == await store.get_key(ALICE)
    assert context.model == await store.get_model(ALICE) == "gpt-4o"
    assert context.caps == await store.get_caps(ALICE)
    assert context.instructions == await store.get_instructions(ALICE) == "Answer in French."
    assert context.config == config
    # The settings are those of the place asked in, with the member's own key and choices.
    elsewhere = await store.turn_context(ALICE, server="T2")
    assert elsewhere.config.default_model == "o1" and elsewhere.keys == context.keys
    in_a_dm = await store.turn_context(ALICE, server="")
    assert in_a_dm.config == WorkspaceConfig("slack", "") and in_a_dm.model == "gpt-4o"
    other_platform = await store.turn_context(ALICE_ELSEWHERE, server="T1")
    assert other_platform.keys == () and other_platform.model is None
    assert other_platform.instructions is None
    assert other_platform.config == WorkspaceConfig("discord", "T1")

    await store.set_model(ALICE, None)
    await store.set_instructions(ALICE, None)
    await store.set_cap(ALICE, "daily", None)
    await store.delete_key(ALICE)
    cleared = await store.turn_context(ALICE, server="T1")
    assert (cleared.keys, cleared.model, cleared.instructions) == ((), None, None)
    assert cleared.caps == {"monthly": Cap(50000, "tokens")}


async def test_a_turn_context_holds_every_providers_key_in_one_read(store: Store) -> None:
    await save(store, ALICE, b"sealed-openai")
    await store.save_key(
        ALICE, sealed=b"sealed-beta", masked="b...", fingerprint="fp", now=NOW, provider="beta"
    )
    await store.set_model(ALICE, "beta/llama")
    await store.set_cap(ALICE, "daily", Cap(2.5, "usd"))
    context = await store.turn_context(ALICE, server="T1")
    assert {k.provider: k.sealed for k in context.keys} == {
        "openai": b"sealed-openai",
        "beta": b"sealed-beta",
    }
    beta = context.key_for("beta")
    assert beta is not None and beta == await store.get_key(ALICE, "beta")
    assert context.key_for("gamma") is None
    # The rows repeated per key carry the one model and caps.
    assert context.model == "beta/llama" and context.caps == {"daily": Cap(2.5, "usd")}


# Forgetting a member, deleting a workspace


async def _fill(store: Store, who: Member) -> None:
    await save(store, who)
    await store.set_model(who, "gpt-4o")
    await store.set_instructions(who, f"Call me {who.user}.")
    await store.set_cap(who, "daily", Cap(1, "usd"))
    await store.record_usage([usage(who, "gpt-4o", NOW)])
    await store.record_audit(audit(who, "key_set"))


async def test_forget_member_leaves_one_anonymous_event(store: Store) -> None:
    for who in (ALICE, CAROL, ALICE_ELSEWHERE):
        await _fill(store, who)
    later = NOW + timedelta(minutes=1)
    await store.forget_member(ALICE, now=later)

    assert await store.get_key(ALICE) is None
    assert await store.get_model(ALICE) is None
    assert await store.get_instructions(ALICE) is None
    assert await store.get_caps(ALICE) == {}
    assert await store.usage_by_model(ALICE, since=NOW) == []
    assert await store.audit_events(member=ALICE) == []
    assert await store.audit_events(since=later) == [
        AuditRecord(later, "slack", "T1", None, FORGOTTEN_EVENT, "ok")
    ]
    # Nobody else lost anything, on this platform or another.
    for who in (CAROL, ALICE_ELSEWHERE):
        assert await store.get_key(who) is not None
        assert await store.get_model(who) == "gpt-4o"
        assert await store.get_instructions(who) == f"Call me {who.user}."
        assert await store.get_caps(who) == {"daily": Cap(1, "usd")}
        assert await store.usage_by_model(who, since=NOW) == [ModelUsage("gpt-4o", 10, 20, 1)]
        assert len(await store.audit_events(member=who)) == 1


async def test_delete_workspace_removes_its_members_and_settings(store: Store) -> None:
    for who in (ALICE, CAROL, BOB, ALICE_ELSEWHERE):
        await _fill(store, who)
    for platform, workspace in (("slack", "T1"), ("slack", "T2"), ("discord", "T1")):
        await store.save_workspace_config(
            WorkspaceConfig(
                platform,
                workspace,
                frozenset({"C1"}),
                "gpt-4o",
                system_prompt="Be brief.",
                channel_prompts={"C1": "French."},
            )
        )

    assert await store.delete_workspace("slack", "T1") == 2
    for who in (ALICE, CAROL):
        assert await store.get_key(who) is None
        assert await store.get_model(who) is None
        assert await store.get_instructions(who) is None
        assert await store.get_caps(who) == {}
        assert await store.usage_by_model(who, since=NOW) == []
        assert await store.audit_events(member=who) == []
    assert await store.get_workspace_config("slack", "T1") == WorkspaceConfig("slack", "T1")
    for who in (BOB, ALICE_ELSEWHERE):
        assert await store.get_key(who) is not None
        assert await store.get_model(who) == "gpt-4o"
        assert await store.get_instructions(who) == f"Call me {who.user}."
        assert len(await store.audit_events(member=who)) == 1
    assert (await store.get_workspace_config("slack", "T2")).allowed_channels == {"C1"}
    assert (await store.get_workspace_config("slack", "T2")).channel_prompts == {"C1": "French."}
    assert (await store.get_workspace_config("discord", "T1")).allowed_channels == {"C1"}
    assert await store.delete_workspace("slack", "T1") == 0


# Re-sealing


async def test_reseal_all_is_one_transaction(store: Store) -> None:
    for who in (ALICE, BOB):
        await store.save_key(who, sealed=b"old", masked="m", fingerprint="old-fp", now=NOW)
    calls = 0

    def failing(sealed: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("boom")
        return b"new"

    with pytest.raises(RuntimeError):
        await store.reseal_all(failing, fingerprint="new-fp", audit_event="r", now=NOW)
    # Nothing changed: the first row's new seal was dropped with the rest.
    for who in (ALICE, BOB):
        stored = await store.get_key(who)
        assert stored is not None and stored.sealed == b"old"
    assert await store.master_key_fingerprints() == {"old-fp"}
    assert await store.audit_events() == []

    resealed = await store.reseal_all(
        lambda s: s + b"+new", fingerprint="new-fp", audit_event="key_resealed", now=NOW
    )
    assert resealed == 2
    for who in (ALICE, BOB):
        stored = await store.get_key(who)
        assert stored is not None and stored.sealed == b"old+new"
    events = await store.audit_events()
    assert sorted((e.user, e.event, e.outcome, e.at) for e in events) == [
        ("U1", "key_resealed", "ok", NOW),
        ("U2", "key_resealed", "ok", NOW),
    ]
    assert await store.master_key_fingerprints() == {"new-fp"}


async def test_reseal_all_with_no_keys_records_the_new_fingerprint(store: Store) -> None:
    assert await store.reseal_all(lambda s: s, fingerprint="fp", audit_event="r", now=NOW) == 0
    assert await store.master_key_fingerprints() == {"fp"}


# Installations and install flows' states (Slack's OAuth mode)

WORKSPACE_A = InstallationKey(platform="slack", org="", workspace="TA")
INSTALLER_A = InstallationKey(platform="slack", org="", workspace="TA", user="U1")
WORKSPACE_B = InstallationKey(platform="slack", org="", workspace="TB")
GRID_ORG = InstallationKey(platform="slack", org="E1", workspace="")
GRID_TEAM = InstallationKey(platform="slack", org="E1", workspace="TA")


def installed(key: InstallationKey, sealed: bytes = SEALED) -> SealedInstallation:
    return SealedInstallation(key=key, sealed=sealed, installed_at=NOW)


async def test_installations_read_back_exactly_by_their_whole_key(store: Store) -> None:
    for key in (WORKSPACE_A, INSTALLER_A, WORKSPACE_B, GRID_ORG, GRID_TEAM):
        await store.save_installation(installed(key, SEALED + repr(key).encode()), fingerprint="fp")
    for key in (WORKSPACE_A, INSTALLER_A, WORKSPACE_B, GRID_ORG, GRID_TEAM):
        assert await store.find_installation(key) == installed(key, SEALED + repr(key).encode())
    nowhere = InstallationKey(platform="slack", org="", workspace="TC")
    assert await store.find_installation(nowhere) is None
    assert (
        await store.find_installation(InstallationKey(platform="discord", org="", workspace="TA"))
        is None
    )
    # Their master key is checked at start-up like the members' keys'.
    assert await store.master_key_fingerprints() == {"fp"}


async def test_an_installation_saved_again_replaces_the_old_one(store: Store) -> None:
    await store.save_installation(installed(WORKSPACE_A, b"first"), fingerprint="fp")
    later = SealedInstallation(key=WORKSPACE_A, sealed=b"second", installed_at=NOW + timedelta(1))
    await store.save_installation(later, fingerprint="fp2")
    assert await store.find_installation(WORKSPACE_A) == later
    assert await store.master_key_fingerprints() == {"fp", "fp2"}


async def test_deleting_installations_one_or_every_users(store: Store) -> None:
    for key in (WORKSPACE_A, INSTALLER_A, WORKSPACE_B, GRID_TEAM):
        await store.save_installation(installed(key), fingerprint="fp")
    assert await store.delete_installations(INSTALLER_A) == 1
    assert await store.find_installation(INSTALLER_A) is None
    assert await store.find_installation(WORKSPACE_A) is not None
    await store.save_installation(installed(INSTALLER_A), fingerprint="fp")
    assert await store.delete_installations(WORKSPACE_A, every_user=True) == 2
    assert await store.find_installation(WORKSPACE_A) is None
    assert await store.find_installation(INSTALLER_A) is None
    # Another workspace, and the same team id under a Grid org, are others' installations.
    assert await store.find_installation(WORKSPACE_B) is not None
    assert await store.find_installation(GRID_TEAM) is not None
    assert await store.delete_installations(WORKSPACE_A, every_user=True) == 0


async def test_reseal_all_reseals_installations_with_the_keys(store: Store) -> None:
    await save(store, ALICE, sealed=b"key", fp="old")
    await store.save_installation(installed(WORKSPACE_A, b"token"), fingerprint="old")
    await store.save_installation(installed(GRID_ORG, b"org-token"), fingerprint="old")
    resealed = await store.reseal_all(
        lambda s: s + b"+new", fingerprint="new", audit_event="key_resealed", now=NOW
    )
    assert resealed == 3
    found = await store.find_installation(WORKSPACE_A)
    assert found is not None and found.sealed == b"token+new"
    found = await store.find_installation(GRID_ORG)
    assert found is not None and found.sealed == b"org-token+new"
    assert await store.master_key_fingerprints() == {"new"}
    events = await store.audit_events()
    assert sorted((e.workspace, e.user, e.event) for e in events) == [
        ("E1", None, "key_resealed"),
        ("T1", "U1", "key_resealed"),
        ("TA", None, "key_resealed"),
    ]

    def failing(sealed: bytes) -> bytes:
        if sealed.startswith(b"org"):
            raise RuntimeError("boom")
        return b"never"

    # One transaction with the keys: a failure on an installation leaves every row as it was.
    with pytest.raises(RuntimeError):
        await store.reseal_all(failing, fingerprint="newer", audit_event="r", now=NOW)
    stored = await store.get_key(ALICE)
    assert stored is not None and stored.sealed == b"key+new"
    found = await store.find_installation(WORKSPACE_A)
    assert found is not None and found.sealed == b"token+new"
    assert await store.master_key_fingerprints() == {"new"}


async def test_an_oauth_state_is_good_once_and_only_before_it_expires(store: Store) -> None:
    until = NOW + timedelta(minutes=10)
    await store.issue_oauth_state("s1", until=until)
    await store.issue_oauth_state("s2", until=until)
    assert await store.consume_oauth_state("s1", now=NOW)
    assert not await store.consume_oauth_state("s1", now=NOW)
    assert not await store.consume_oauth_state("never-issued", now=NOW)
    # Expired: refused, and gone (not good again later by a clock set back).
    assert not await store.consume_oauth_state("s2", now=until)
    assert not await store.consume_oauth_state("s2", now=NOW)


async def test_of_racing_uses_of_one_state_exactly_one_succeeds(engine: Engine) -> None:
    one, two = await engine.open(), await engine.open()
    try:
        await one.issue_oauth_state("raced", until=NOW + timedelta(minutes=10))
        used = await asyncio.gather(
            *(s.consume_oauth_state("raced", now=NOW) for s in (one, two) * 10)
        )
        assert sum(used) == 1
    finally:
        await one.close()
        await two.close()


# The store itself


async def test_rows_outlive_the_store_and_reopening_migrates_nothing(engine: Engine) -> None:
    first = await engine.open()
    try:
        key_id = await save(first, ALICE)
        await first.set_model(ALICE, "gpt-4o")
    finally:
        await first.close()
    again = await engine.open()
    try:
        stored = await again.get_key(ALICE)
        assert stored is not None and stored.key_id == key_id and stored.sealed == SEALED
        assert await again.get_model(ALICE) == "gpt-4o"
    finally:
        await again.close()


async def test_a_cancelled_write_leaves_no_transaction_open(store: Store) -> None:
    # Cancel writes at every point they can be cancelled; each next write must work.
    for ticks in range(12):
        writing = asyncio.create_task(save(store, ALICE))
        for _ in range(ticks):
            await asyncio.sleep(0)
        writing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writing
        await store.set_model(BOB, f"model-{ticks}")
        assert await store.get_model(BOB) == f"model-{ticks}"
        await store.forget_member(CAROL, now=NOW)


async def test_concurrent_writers_each_land(store: Store) -> None:
    members = [Member("slack", "T1", f"U{i}") for i in range(30)]
    ids = await asyncio.gather(*(save(store, who) for who in members))
    assert len(set(ids)) == len(members)
    await asyncio.gather(
        *(store.record_usage([usage(who, "m", NOW)]) for who in members),
        *(store.set_model(who, "m") for who in members),
    )
    for who, key_id in zip(members, ids, strict=True):
        stored = await store.get_key(who)
        assert stored is not None and stored.key_id == key_id
        assert await store.usage_by_model(who, since=NOW) == [ModelUsage("m", 10, 20, 1)]


# Shared state: attempt windows, answer-once tokens, leases on turns in flight


def window(bucket: str, limit: int, minutes: float = 1) -> RateWindow:
    return RateWindow(bucket, limit, timedelta(minutes=minutes))


def lease(bucket: str = "turns:alice", limit: int = 1) -> Lease:
    return Lease(bucket=bucket, holder=secrets.token_hex(8), limit=limit)


async def test_an_attempt_counts_in_every_window_or_in_none(store: Store) -> None:
    small, shared = window("a", 1), window("shared", 2)
    assert await store.attempt([small, shared], NOW) is None
    refusal = await store.attempt([small, shared], NOW + timedelta(seconds=20))
    assert refusal is not None and refusal.window == small
    assert refusal.retry_in == timedelta(seconds=40)
    # The refused attempt was not counted in `shared`: one more fits there.
    assert await store.attempt([window("b", 1), shared], NOW) is None
    full = await store.attempt([shared], NOW + timedelta(seconds=30))
    assert full is not None and full.retry_in == timedelta(seconds=30)
    # A minute after the first attempt it has left the window.
    assert await store.attempt([small, shared], NOW + timedelta(minutes=1)) is None


async def test_a_window_slides(store: Store) -> None:
    three = window("w", 3)
    for second in (0, 10, 20):
        assert await store.attempt([three], NOW + timedelta(seconds=second)) is None
    refusal = await store.attempt([three], NOW + timedelta(seconds=30))
    assert refusal is not None and refusal.retry_in == timedelta(seconds=30)
    assert await store.attempt([three], NOW + timedelta(seconds=60)) is None
    refusal = await store.attempt([three], NOW + timedelta(seconds=65))
    assert refusal is not None and refusal.retry_in == timedelta(seconds=5)


async def test_racing_attempts_never_pass_the_limit(store: Store) -> None:
    five = window("race", 5)
    outcomes = await asyncio.gather(*(store.attempt([five], NOW) for _ in range(20)))
    assert sum(outcome is None for outcome in outcomes) == 5


async def test_a_token_is_first_once_until_it_expires(store: Store) -> None:
    until = NOW + timedelta(minutes=5)
    assert await store.first_time("slack:1:v0=abc", now=NOW, until=until)
    assert not await store.first_time("slack:1:v0=abc", now=NOW + timedelta(minutes=4), until=until)
    assert await store.first_time("slack:1:v0=other", now=NOW, until=until)
    # Past its expiry it may be used again, and is then remembered anew.
    later = until + timedelta(minutes=5)
    assert await store.first_time("slack:1:v0=abc", now=until, until=later)
    assert not await store.first_time("slack:1:v0=abc", now=until, until=later)


async def test_of_racing_offers_of_one_token_exactly_one_is_first(store: Store) -> None:
    until = NOW + timedelta(minutes=5)
    firsts = await asyncio.gather(
        *(store.first_time("slack-event:Ev1", now=NOW, until=until) for _ in range(20))
    )
    assert sum(firsts) == 1


async def test_twenty_tasks_racing_for_one_slot_get_exactly_one(store: Store) -> None:
    until = NOW + timedelta(seconds=30)
    leases = [lease() for _ in range(20)]
    outcomes = await asyncio.gather(*(store.take_lease(x, now=NOW, until=until) for x in leases))
    assert sum(outcome is None for outcome in outcomes) == 1
    refused = [outcome for outcome in outcomes if outcome is not None]
    assert all(isinstance(outcome, SlotsTaken) for outcome in refused)
    # Another member's slots are their own.
    assert await store.take_lease(lease("turns:bob"), now=NOW, until=until) is None


async def test_a_released_lease_frees_its_slot_and_others_count_up_to_the_limit(
    store: Store,
) -> None:
    until = NOW + timedelta(seconds=30)
    first, second, third = lease(limit=2), lease(limit=2), lease(limit=2)
    assert await store.take_lease(first, now=NOW, until=until) is None
    assert await store.take_lease(second, now=NOW, until=until) is None
    assert await store.take_lease(third, now=NOW, until=until) == SlotsTaken(third)
    await store.release_lease(first)
    assert await store.take_lease(third, now=NOW, until=until) is None
    # Releasing twice, or a lease never granted, changes nothing.
    await store.release_lease(first)
    await store.release_lease(lease())
    assert isinstance(await store.take_lease(lease(limit=2), now=NOW, until=until), SlotsTaken)


async def test_an_expired_lease_frees_the_slot_and_a_renewed_one_does_not(store: Store) -> None:
    held = lease()
    assert await store.take_lease(held, now=NOW, until=NOW + timedelta(seconds=30)) is None
    at_20 = NOW + timedelta(seconds=20)
    assert await store.renew_lease(held, now=at_20, until=at_20 + timedelta(seconds=30))
    # 30 s after it was taken it would have expired; renewed, it holds until 50 s.
    at_40 = NOW + timedelta(seconds=40)
    assert isinstance(
        await store.take_lease(lease(), now=at_40, until=at_40 + timedelta(seconds=30)),
        SlotsTaken,
    )
    at_50 = NOW + timedelta(seconds=50)
    assert await store.take_lease(lease(), now=at_50, until=at_50 + timedelta(seconds=30)) is None
    # The expired holder's renewal is refused: its slot is someone else's now.
    assert not await store.renew_lease(held, now=at_50, until=at_50 + timedelta(seconds=30))


async def test_a_lease_and_its_windows_are_taken_together_or_not_at_all(store: Store) -> None:
    until = NOW + timedelta(seconds=30)
    minute = window("questions:alice", 2)
    assert await store.take_lease(lease(limit=5), windows=[minute], now=NOW, until=until) is None
    busy = lease(bucket="turns:carol", limit=1)
    assert await store.take_lease(busy, now=NOW, until=until) is None
    # A busy member's refused turn costs no attempt of the window.
    refused = await store.take_lease(lease("turns:carol"), windows=[minute], now=NOW, until=until)
    assert isinstance(refused, SlotsTaken)
    assert await store.take_lease(lease(limit=5), windows=[minute], now=NOW, until=until) is None
    # The window is full now: refused, and no slot taken.
    refused = await store.take_lease(lease(limit=5), windows=[minute], now=NOW, until=until)
    assert isinstance(refused, RateRefusal) and refused.window == minute
    assert refused.retry_in == timedelta(minutes=1)
    for _ in range(3):
        assert await store.take_lease(lease(limit=5), now=NOW, until=until) is None
    assert isinstance(await store.take_lease(lease(limit=5), now=NOW, until=until), SlotsTaken)


async def test_expired_shared_state_is_swept(engine: Engine) -> None:
    """Members who never come back leave nothing behind: expired rows of every bucket go."""
    store = await engine.open()
    try:
        for n in range(5):
            await store.attempt([window(f"gone:{n}", 1)], NOW)
            await store.first_time(f"token:{n}", now=NOW, until=NOW + timedelta(minutes=5))
            await store.take_lease(lease(f"turns:{n}"), now=NOW, until=NOW + timedelta(seconds=30))
    finally:
        await store.close()
    # A new process sweeps at its first change of shared state.
    store = await engine.open()
    try:
        later = NOW + timedelta(hours=1)
        await store.attempt([window("someone", 1)], later)
        assert await state_rows(engine) == {"rate_attempts": 1, "once_tokens": 0, "turn_leases": 0}
    finally:
        await store.close()


async def state_rows(engine: Engine) -> dict[str, int]:
    tables = ("rate_attempts", "once_tokens", "turn_leases")
    if engine.name == "postgres":
        connection = await asyncpg.connect(engine.url)
        try:
            return {t: int(await connection.fetchval(f"SELECT COUNT(*) FROM {t}")) for t in tables}  # noqa: S608
        finally:
            await connection.close()
    with contextlib.closing(sqlite3.connect(engine.url)) as db:
        return {t: int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables}  # noqa: S608


async def test_two_stores_on_one_database_share_windows_slots_and_tokens(engine: Engine) -> None:
    """As two processes do: what one counted, took or remembered, the other sees at once."""
    one, two = await engine.open(), await engine.open()
    try:
        minute = window("questions:alice", 3)
        outcomes = await asyncio.gather(
            *(store.attempt([minute], NOW) for store in (one, two, one, two, one, two))
        )
        assert sum(outcome is None for outcome in outcomes) == 3
        until = NOW + timedelta(seconds=30)
        leases = [lease() for _ in range(20)]
        taken = await asyncio.gather(
            *(
                (one if n % 2 else two).take_lease(x, now=NOW, until=until)
                for n, x in enumerate(leases)
            )
        )
        assert sum(outcome is None for outcome in taken) == 1
        granted = leases[taken.index(None)]
        await (two if leases.index(granted) % 2 else one).release_lease(granted)
        assert await one.take_lease(lease(), now=NOW, until=until) is None
        token_until = NOW + timedelta(minutes=10)
        firsts = await asyncio.gather(
            *(s.first_time("slack-event:Ev9", now=NOW, until=token_until) for s in (one, two) * 5)
        )
        assert sum(firsts) == 1
    finally:
        await one.close()
        await two.close()


async def test_one_key_per_member_per_provider(store: Store) -> None:
    first = await save(store, ALICE, b"sealed-openai")
    beta_id = await store.save_key(
        ALICE, sealed=b"sealed-beta", masked="b...", fingerprint="fp", now=NOW, provider="beta"
    )
    keys = await store.member_keys(ALICE)
    assert [(k.provider, k.sealed) for k in keys] == [
        ("beta", b"sealed-beta"),
        ("openai", b"sealed-openai"),
    ]
    assert await store.count_keys() == 2
    # Replacing one provider's key leaves the other's alone.
    again = await store.save_key(
        ALICE, sealed=b"sealed-beta-2", masked="b...", fingerprint="fp", now=NOW, provider="beta"
    )
    assert again != beta_id
    openai_row = await store.get_key(ALICE)
    assert openai_row is not None and openai_row.key_id == first
    # Statuses change only the row the key id names.
    assert await store.mark_key_invalid(ALICE, again)
    still = await store.get_key(ALICE, "openai")
    assert still is not None and still.status == "valid"
    assert await store.delete_key(ALICE, "beta")
    assert not await store.delete_key(ALICE, "beta")
    assert [k.provider for k in await store.member_keys(ALICE)] == ["openai"]
    assert await store.get_key(ALICE, "beta") is None
    await store.save_key(
        ALICE, sealed=b"sealed-beta", masked="b...", fingerprint="fp", now=NOW, provider="beta"
    )
    resealed = await store.reseal_all(
        lambda sealed: sealed + b"!", fingerprint="fp2", audit_event="key_resealed", now=NOW
    )
    assert resealed == 2
    assert {k.sealed for k in await store.member_keys(ALICE)} == {
        b"sealed-openai!",
        b"sealed-beta!",
    }
    await store.forget_member(ALICE, now=NOW)
    assert await store.member_keys(ALICE) == []
