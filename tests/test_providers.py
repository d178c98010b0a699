"""Keys from any provider the operator lists (issue 14): two fake providers on loopback with
different key patterns and error shapes, one member with a key at each, and every way a
member might aim the bot at a host the operator did not list."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import bot.keys
from app.providers_file import ProvidersFileError, parse_providers
from app.services import Services, open_services
from bot import texts
from bot.domain import Member, WorkspaceConfig
from bot.keys import contains_key, redact_keys
from bot.ports import FailureKind
from bot.providers import ModelChoice, ModelRefusal, ProviderList
from bot.vault import KeyVault, VaultError, fingerprint, generate_master_key
from storage import sqlite as sqlite_engine
from storage.schema import Migration
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import RecordingSink, ask, make_key, make_settings, member
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")
BETA_MODELS = ("llama-3.3-70b", "mixtral-8x7b")


def beta_key() -> str:
    """A made-up key in OpenRouter's shape (never a real one)."""
    return "sk-or-v1-" + secrets.token_hex(32)


def providers_toml(alpha: FakeOpenAI, beta: FakeOpenAI) -> str:
    return f"""
[providers.alpha]
name = "Alpha"
base_url = "{alpha.base_url}"
keys_page = "https://alpha.example/keys"

[providers.beta]
name = "Beta"
base_url = "{beta.base_url}"
key_pattern = "sk-or-v1-[0-9a-f]{{64}}"
keys_page = "https://beta.example/keys"
billing_page = "https://beta.example/credits"
headers = {{ "X-Title" = "byok-bot" }}
query = {{ "api-version" = "2026-01-01" }}
prices = {{ "llama-3.3-70b" = {{ input = 0.59, output = 0.79 }} }}
"""


@dataclass
class Two:
    alpha: FakeOpenAI
    beta: FakeOpenAI
    services: Services

    def recorded(self) -> int:
        return len(self.alpha.requests) + len(self.beta.requests)


@pytest.fixture(autouse=True)
def _learnt_patterns_stay_in_their_test(monkeypatch: pytest.MonkeyPatch) -> None:
    # open_services teaches the finder the listed patterns; the next test starts afresh.
    monkeypatch.setattr(bot.keys, "_listed_patterns", ())


@pytest.fixture
async def two(tmp_path: Path, master_key: str, database_url: str) -> AsyncIterator[Two]:
    alpha = await FakeOpenAI().start()
    beta = await FakeOpenAI(models=BETA_MODELS).start()
    try:
        file = tmp_path / "providers.toml"
        file.write_text(providers_toml(alpha, beta))
        settings = make_settings(
            alpha,
            master_keys=master_key,
            database_url=database_url,
            BYOK_PROVIDERS_FILE=str(file),
            BYOK_DEFAULT_MODEL="gpt-5-mini",
        )
        services = await open_services(settings)
        try:
            yield Two(alpha, beta, services)
        finally:
            await services.close()
    finally:
        await alpha.close()
        await beta.close()


async def keys_at_both(two: Two, who: Member = ALICE) -> tuple[str, str]:
    a, b = make_key(), beta_key()
    two.alpha.behaviours[a] = openai_server.VALID
    two.beta.behaviours[b] = openai_server.VALID
    assert (await two.services.commands.run(who, "setkey", f"alpha {a}")).ok
    assert (await two.services.commands.run(who, "setkey", f"beta {b}")).ok
    return a, b


def bearers(fake: FakeOpenAI, suffix: str = "") -> set[str | None]:
    return set(fake.authorizations(suffix))


async def test_a_turn_on_each_provider_carries_that_key_to_that_server_only(two: Two) -> None:
    a, b = await keys_at_both(two)
    commands = two.services.commands
    assert (await commands.run(ALICE, "model", "alpha/gpt-4o")).ok
    sink = RecordingSink()
    turn = await two.services.core.handle_message(ask(ALICE, "to alpha"), sink)
    assert turn is not None and turn.failure is None, sink.privates
    assert (await commands.run(ALICE, "model", "beta/llama-3.3-70b")).ok
    sink = RecordingSink()
    turn = await two.services.core.handle_message(ask(ALICE, "to beta"), sink)
    assert turn is not None and turn.failure is None, sink.privates
    assert sink.text == "You asked: to beta"

    [to_alpha] = two.alpha.chat_requests()
    [to_beta] = two.beta.chat_requests()
    assert (to_alpha.authorization, to_alpha.body and to_alpha.body["model"]) == (
        f"Bearer {a}",
        "gpt-4o",
    )
    assert (to_beta.authorization, to_beta.body and to_beta.body["model"]) == (
        f"Bearer {b}",
        "llama-3.3-70b",
    )
    # Neither key ever reached the other provider, not even to be checked.
    assert bearers(two.alpha) == {f"Bearer {a}"}
    assert bearers(two.beta) == {f"Bearer {b}"}
    # Every request went to a listed host, with that provider's own headers and query.
    assert {r.host for r in two.alpha.requests} == {f"127.0.0.1:{two.alpha.port}"}
    assert {r.host for r in two.beta.requests} == {f"127.0.0.1:{two.beta.port}"}
    assert all(r.query == {"api-version": "2026-01-01"} for r in two.beta.requests)
    assert all(r.headers.get("x-title") == "byok-bot" for r in two.beta.requests)
    assert not any("api-version" in r.query or "x-title" in r.headers for r in two.alpha.requests)


async def test_usage_names_the_provider_and_prices_only_what_is_known(two: Two) -> None:
    await keys_at_both(two)
    commands = two.services.commands
    for model in ("alpha/gpt-4o", "beta/llama-3.3-70b"):
        assert (await commands.run(ALICE, "model", model)).ok
        turn = await two.services.core.handle_message(ask(ALICE, "hi"), RecordingSink())
        assert turn is not None and turn.failure is None
        assert turn.model == model
    await two.services.ledger.flush()
    usage = (await commands.run(ALICE, "usage")).text
    today = usage.split("This month")[0]
    [alpha_line] = [ln for ln in today.splitlines() if "`alpha/gpt-4o`" in ln]
    [beta_line] = [ln for ln in today.splitlines() if "`beta/llama-3.3-70b`" in ln]
    # Beta's own price (providers.toml) prices Beta's model; Alpha is not OpenAI, so OpenAI's
    # price for a model of the same name is not borrowed: its tokens, cost unknown.
    assert "≈ $" in beta_line and "cost unknown" not in beta_line
    assert alpha_line.endswith("cost unknown") and "tokens" in alpha_line
    assert "plus models of unknown cost" in today
    # With a dollar cap, the member is told what it cannot count.
    assert "Dollar caps" not in usage
    assert (await commands.run(ALICE, "limit", "daily 2 usd")).ok
    usage = (await commands.run(ALICE, "usage")).text
    assert texts.dollar_cap_skips(["alpha/gpt-4o"]) in usage


async def test_model_list_spans_every_provider_the_member_has_a_key_for(two: Two) -> None:
    await keys_at_both(two)
    listed = await two.services.commands.available_models(ALICE)
    assert "alpha/gpt-4o" in listed and "beta/llama-3.3-70b" in listed
    assert not any("embedding" in name for name in listed)
    reply = await two.services.commands.run(ALICE, "model")
    assert "`alpha/gpt-5-mini`" in reply.text and "`beta/mixtral-8x7b`" in reply.text


async def test_a_key_of_alpha_offered_as_beta_never_leaves_the_bot(two: Two) -> None:
    a = make_key()
    two.alpha.behaviours[a] = openai_server.VALID
    reply = await two.services.commands.run(ALICE, "setkey", f"beta {a}")
    assert not reply.ok
    beta = two.services.settings.providers.get("beta")
    assert beta is not None and reply.text == texts.key_not_this_provider(beta)
    assert a not in reply.text
    assert two.recorded() == 0
    assert await two.services.store.member_keys(ALICE) == []


async def test_a_key_of_beta_offered_as_alpha_never_leaves_the_bot(two: Two) -> None:
    # Alpha lists no key pattern, but the key's shape says who issued it (OpenRouter's
    # `sk-or-`): it is not sent to alpha, not even for a check.
    b = beta_key()
    two.beta.behaviours[b] = openai_server.VALID
    reply = await two.services.commands.run(ALICE, "setkey", f"alpha {b}")
    alpha = two.services.settings.providers.get("alpha")
    assert alpha is not None
    assert reply.text == texts.key_of_another_provider("OpenRouter", alpha)
    assert b not in reply.text
    assert two.recorded() == 0
    assert await two.services.store.member_keys(ALICE) == []


async def test_a_key_alpha_does_not_know_is_refused_at_alpha_and_nowhere_else(two: Two) -> None:
    stranger = make_key()  # OpenAI-shaped, but not one of alpha's accounts
    reply = await two.services.commands.run(ALICE, "setkey", f"alpha {stranger}")
    assert reply.text == texts.KEY_REJECTED
    assert bearers(two.alpha, "/models") == {f"Bearer {stranger}"}
    assert two.beta.requests == []
    assert await two.services.store.member_keys(ALICE) == []


@pytest.mark.parametrize(("prefix", "issuer"), [("sk-ant-api03-", "Anthropic"), ("gsk_", "Groq")])
async def test_a_key_of_a_provider_not_listed_is_sent_nowhere(
    two: Two, prefix: str, issuer: str
) -> None:
    key = prefix + secrets.token_hex(30)
    reply = await two.services.commands.run(ALICE, "setkey", key)
    assert not reply.ok and issuer in reply.text and key not in reply.text
    assert two.recorded() == 0
    assert await two.services.store.member_keys(ALICE) == []


async def test_a_key_given_without_a_provider_goes_where_its_shape_says(two: Two) -> None:
    b = beta_key()
    two.beta.behaviours[b] = openai_server.VALID
    # As a Discord modal or a DM gives it: the key alone.
    reply = await two.services.commands.set_key(ALICE, b)
    assert reply.ok and "Beta" in reply.text
    assert two.alpha.requests == []
    [stored] = await two.services.store.member_keys(ALICE)
    assert stored.provider == "beta"


@pytest.fixture
async def attacker() -> AsyncIterator[FakeOpenAI]:
    """A server nobody listed: whatever a member types, it must hear nothing."""
    fake = await FakeOpenAI().start()
    yield fake
    await fake.close()


@pytest.mark.parametrize(
    "name",
    [
        "evil/x",
        "attacker/gpt-4o",
        "http://{attacker}/v1/gpt-4o",
        "https://{attacker}/v1",
        "//{attacker}/x",
        "{attacker}/gpt-4o",
        "alpha/",
        "beta\\x",
        "gpt 4o",
    ],
)
async def test_a_model_naming_anything_unlisted_is_refused_before_any_request(
    two: Two, attacker: FakeOpenAI, name: str
) -> None:
    name = name.format(attacker=f"127.0.0.1:{attacker.port}")
    await keys_at_both(two)
    before = two.recorded()
    reply = await two.services.commands.run(ALICE, "model", name)
    assert not reply.ok
    assert two.recorded() == before
    assert await two.services.store.get_model(ALICE) is None
    # An admin's default naming it is refused the same way, for every turn.
    sink = RecordingSink()
    await two.services.store.save_workspace_config(
        WorkspaceConfig(platform="console", workspace="server-1", default_model=name)
    )
    turn = await two.services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is None and sink.appended == [] and len(sink.privates) == 1
    # So is a member's stored choice (written by an older release, or by hand).
    await two.services.store.set_model(ALICE, name)
    sink = RecordingSink()
    assert await two.services.core.handle_message(ask(ALICE, "hi"), sink) is None
    assert sink.appended == [] and len(sink.privates) == 1
    assert two.recorded() == before
    assert attacker.requests == []


async def test_the_operators_model_allow_list_is_kept_before_any_request(
    tmp_path: Path, master_key: str, database_url: str
) -> None:
    alpha = await FakeOpenAI().start()
    beta = await FakeOpenAI(models=BETA_MODELS).start()
    file = tmp_path / "providers.toml"
    file.write_text(providers_toml(alpha, beta) + 'models = ["llama-3.3-70b"]\n')
    settings = make_settings(
        alpha, master_keys=master_key, database_url=database_url, BYOK_PROVIDERS_FILE=str(file)
    )
    services = await open_services(settings)
    try:
        two = Two(alpha, beta, services)
        await keys_at_both(two)
        before = two.recorded()
        refused = await services.commands.run(ALICE, "model", "beta/mixtral-8x7b")
        assert not refused.ok and "doesn't allow" in refused.text
        assert two.recorded() == before
        listed = await services.commands.available_models(ALICE)
        assert "beta/llama-3.3-70b" in listed and "beta/mixtral-8x7b" not in listed
        assert (await services.commands.run(ALICE, "model", "beta/llama-3.3-70b")).ok
    finally:
        await services.close()
        await alpha.close()
        await beta.close()


async def test_a_member_without_a_key_for_the_default_provider_is_told_which(two: Two) -> None:
    b = beta_key()
    two.beta.behaviours[b] = openai_server.VALID
    assert (await two.services.commands.run(ALICE, "setkey", f"beta {b}")).ok
    sink = RecordingSink()
    assert await two.services.core.handle_message(ask(ALICE, "hi"), sink) is None
    alpha = two.services.settings.providers.get("alpha")
    assert alpha is not None
    assert sink.privates == [texts.how_to_set_key(alpha, several=True)]
    assert "Alpha" in sink.privates[0] and "`/setkey alpha`" in sink.privates[0]
    assert two.beta.chat_requests() == [] and two.alpha.requests == []


async def test_an_admin_default_may_name_a_provider(two: Two) -> None:
    _, b = await keys_at_both(two)
    await two.services.store.save_workspace_config(
        WorkspaceConfig(platform="console", workspace="server-1", default_model="beta/mixtral-8x7b")
    )
    sink = RecordingSink()
    turn = await two.services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is None
    assert turn.model == "beta/mixtral-8x7b"
    [request] = two.beta.chat_requests()
    assert request.authorization == f"Bearer {b}" and two.alpha.chat_requests() == []


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        (openai_server.CREDITS_402, FailureKind.NO_CREDIT),
        (openai_server.DEPLOYMENT_NOT_FOUND, FailureKind.MODEL_NOT_FOUND),
        (openai_server.UNAUTHORIZED, FailureKind.UNAUTHORIZED),
    ],
)
async def test_each_providers_errors_reach_the_member_as_the_same_kinds(
    two: Two, behaviour: str, kind: FailureKind
) -> None:
    _, b = await keys_at_both(two)
    assert (await two.services.commands.run(ALICE, "model", "beta/llama-3.3-70b")).ok
    two.beta.behaviours[b] = behaviour
    sink = RecordingSink()
    turn = await two.services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is kind
    beta = two.services.settings.providers.get("beta")
    assert sink.privates == [texts.provider_failure(kind, provider=beta)]
    if kind is FailureKind.NO_CREDIT:
        assert "Beta" in sink.privates[0] and "https://beta.example/credits" in sink.privates[0]


async def test_mykey_removekey_and_forget_per_provider(two: Two) -> None:
    a, b = await keys_at_both(two)
    commands = two.services.commands
    mine = (await commands.run(ALICE, "mykey")).text
    assert "Your Alpha key" in mine and "Your Beta key" in mine
    assert a not in mine and b not in mine and b[:7] in mine
    # Two keys: which one is asked, nothing is removed.
    which = await commands.run(ALICE, "removekey")
    assert not which.ok and len(await two.services.store.member_keys(ALICE)) == 2
    assert not (await commands.run(ALICE, "removekey", "evil")).ok
    removed = await commands.run(ALICE, "removekey", "beta")
    assert removed.ok and "Beta" in removed.text
    assert [k.provider for k in await two.services.store.member_keys(ALICE)] == ["alpha"]
    assert (await commands.run(ALICE, "forget")).ok
    assert await two.services.store.member_keys(ALICE) == []


async def test_a_key_sealed_for_one_provider_moved_to_anothers_row_fails_closed(
    two: Two,
) -> None:
    a, _ = await keys_at_both(two)
    store = two.services.store
    alpha_row = await store.get_key(ALICE, "alpha")
    assert alpha_row is not None
    # Someone with the database copies Alpha's sealed key into Beta's row.
    await store.save_key(
        ALICE,
        sealed=alpha_row.sealed,
        masked="moved",
        fingerprint=two.services.vault.sealing_fingerprint,
        now=datetime.now(UTC),
        provider="beta",
    )
    assert (await two.services.commands.run(ALICE, "model", "beta/llama-3.3-70b")).text == (
        texts.UNREADABLE_KEY
    )
    await store.set_model(ALICE, "beta/llama-3.3-70b")
    before = len(two.beta.requests)
    sink = RecordingSink()
    assert await two.services.core.handle_message(ask(ALICE, "hi"), sink) is None
    assert sink.privates == [texts.UNREADABLE_KEY]
    assert len(two.beta.requests) == before
    assert f"Bearer {a}" not in bearers(two.beta)
    with pytest.raises(VaultError):
        two.services.vault.open(ALICE, alpha_row.sealed, provider="beta")


async def test_rotation_reseals_the_keys_of_every_provider(two: Two, master_key: str) -> None:
    a, b = await keys_at_both(two)
    new = generate_master_key()
    rotating = KeyVault(master_keys=[new, master_key])
    resealed = await two.services.store.reseal_all(
        rotating.reseal,
        fingerprint=fingerprint(new),
        audit_event="key_resealed",
        now=datetime.now(UTC),
    )
    assert resealed == 2
    only_new = KeyVault(master_keys=[new])
    rows = {k.provider: k for k in await two.services.store.member_keys(ALICE)}
    assert only_new.open(ALICE, rows["alpha"].sealed, provider="alpha") == a
    assert only_new.open(ALICE, rows["beta"].sealed, provider="beta") == b
    with pytest.raises(VaultError):
        only_new.open(ALICE, rows["beta"].sealed, provider="alpha")


async def test_a_database_from_before_providers_keeps_its_keys_as_openai_keys(
    tmp_path: Path, fake_openai: FakeOpenAI, master_key: str
) -> None:
    path = tmp_path / "old.sqlite3"
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    # The schema and the sealed payload as the release before this one wrote them.
    old_payload = {"v": 1, "p": "console", "w": "", "u": "alice", "k": key}
    sealed = Fernet(master_key).encrypt(json.dumps(old_payload).encode())
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        for migration in _before_providers(sqlite_engine.migrations()):
            db.executescript(migration.script)
            db.execute("INSERT INTO schema_version VALUES (?, 'then')", (migration.version,))
        db.execute(
            "INSERT INTO member_keys (platform, workspace, user_id, key_id, sealed, masked,"
            " status, set_at) VALUES ('console', '', 'alice', 'k1', ?, 'sk-proj...abcd',"
            " 'valid', '2026-01-01T00:00:00+00:00')",
            (sealed,),
        )
        db.execute("INSERT INTO master_key_fingerprints VALUES (?)", (fingerprint(master_key),))
    settings = make_settings(fake_openai, master_keys=master_key, database_url=f"sqlite:///{path}")
    services = await open_services(settings)
    try:
        [stored] = await services.store.member_keys(ALICE)
        assert (stored.provider, stored.key_id) == ("openai", "k1")
        sink = RecordingSink()
        turn = await services.core.handle_message(ask(ALICE, "still here"), sink)
        assert turn is not None and turn.failure is None, sink.privates
        assert fake_openai.authorizations("/chat/completions") == [f"Bearer {key}"]
        # An old payload names no provider: it opens as OpenAI's, never as another's.
        with pytest.raises(VaultError):
            services.vault.open(ALICE, stored.sealed, provider="beta")
    finally:
        await services.close()


async def test_the_console_sets_a_key_per_provider_and_answers_on_each(
    tmp_path: Path, master_key: str
) -> None:
    alpha = await FakeOpenAI().start()
    beta = await FakeOpenAI(models=BETA_MODELS).start()
    try:
        a, b = make_key(), beta_key()
        alpha.behaviours[a] = openai_server.VALID
        beta.behaviours[b] = openai_server.VALID
        (tmp_path / "providers.toml").write_text(providers_toml(alpha, beta))
        script = "\n".join(
            [
                "/as alice",
                f"/setkey alpha {a}",
                f"/setkey beta {b}",
                "/mykey",
                "/model beta/llama-3.3-70b",
                "to beta",
                "/model evil/x",
                "/model alpha/gpt-4o",
                "to alpha",
            ]
        )
        env = {
            "BYOK_MASTER_KEYS": master_key,
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
            "BYOK_PROVIDERS_FILE": str(tmp_path / "providers.toml"),
        }
        code, out, err = await run_cli("console", cwd=tmp_path, env=env, stdin=script + "\n")
        assert code == 0, err
        assert a not in out + err and b not in out + err
        assert "Your Alpha key" in out and "Your Beta key" in out
        assert "bot: You asked: to beta" in out and "bot: You asked: to alpha" in out
        assert "doesn't use" in out  # evil/x
        assert [r.authorization for r in beta.chat_requests()] == [f"Bearer {b}"]
        assert [r.authorization for r in alpha.chat_requests()] == [f"Bearer {a}"]
        assert bearers(alpha) == {f"Bearer {a}"} and bearers(beta) == {f"Bearer {b}"}
    finally:
        await alpha.close()
        await beta.close()


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ('name = "X"\nkeys_page = "https://x.example"', "entry 'x': field 'base_url': is required"),
        (
            'name = "X"\nbase_url = "ftp://x"\nkeys_page = "https://x.example"',
            "entry 'x': field 'base_url': must start with http:// or https://",
        ),
        (
            'name = "X"\nbase_url = "http://llm.example/v1"\nkeys_page = "https://x.example"',
            "entry 'x': field 'base_url': http:// to another machine",
        ),
        (
            'name = "X"\nbase_url = "https://x.example/v1"\nkeys_page = "https://x.example"\n'
            'key_pattern = "[a-z]+"',
            "entry 'x': field 'key_pattern': matches ordinary text",
        ),
        (
            'name = "X"\nbase_url = "https://x.example/v1"\nkeys_page = "https://x.example"\n'
            'key_pattern = "sk-("',
            "entry 'x': field 'key_pattern': is not a regular expression",
        ),
        (
            'name = "X"\nbase_url = "https://x.example/v1"\nkeys_page = "https://x.example"\n'
            'colour = "red"',
            "entry 'x': field 'colour': is not a field of an entry",
        ),
        (
            'name = "X"\nbase_url = "https://x.example/v1"\nkeys_page = "https://x.example"\n'
            'headers = { Authorization = "Bearer shared" }',
            "entry 'x': field 'headers':",
        ),
    ],
)
def test_a_malformed_entry_is_one_line_naming_entry_and_field(entry: str, named: str) -> None:
    with pytest.raises(ProvidersFileError) as raised:
        parse_providers(f"[providers.x]\n{entry}\n", allow_insecure=False)
    [line] = raised.value.problems
    assert line.startswith(f"providers.toml: {named}"), line


async def test_a_malformed_providers_file_stops_the_process_in_one_line(
    tmp_path: Path, master_key: str
) -> None:
    (tmp_path / "providers.toml").write_text(
        '[providers.groq]\nname = "Groq"\nbase_url = "groq.com"\nkeys_page = "https://g.example"\n'
    )
    env = {
        "BYOK_MASTER_KEYS": master_key,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "BYOK_PROVIDERS_FILE": str(tmp_path / "providers.toml"),
    }
    code, _, err = await run_cli("console", cwd=tmp_path, env=env, stdin="")
    assert code == 2
    assert err.strip().splitlines() == [
        "byok-bot: providers.toml: entry 'groq': field 'base_url': "
        "must start with http:// or https://"
    ]
    assert not (tmp_path / "db.sqlite3").exists()


def test_the_shipped_examples_parse() -> None:
    example = Path(__file__).parent.parent / "providers.example.toml"
    providers = parse_providers(example.read_text(), allow_insecure=False)
    assert providers.ids == (
        "openai",
        "azure",
        "openrouter",
        "groq",
        "mistral",
        "deepseek",
        "together",
    )
    azure = providers.get("azure")
    assert azure is not None and azure.query == {"api-version": "preview"}


def test_model_names_split_only_on_listed_ids() -> None:
    providers = parse_providers(
        '[providers.openai]\nname = "OpenAI"\nbase_url = "https://api.openai.com/v1"\n'
        'keys_page = "https://k.example"\n'
        '[providers.openrouter]\nname = "OpenRouter"\nbase_url = "https://openrouter.ai/api/v1"\n'
        'keys_page = "https://k.example"\nmodels = ["anthropic/claude-3.5-sonnet"]\n',
        allow_insecure=False,
    )
    choice = providers.split_model("openrouter/anthropic/claude-3.5-sonnet")
    assert isinstance(choice, ModelChoice)
    assert (choice.provider.id, choice.model) == ("openrouter", "anthropic/claude-3.5-sonnet")
    bare = providers.split_model("gpt-4o")
    assert isinstance(bare, ModelChoice) and bare.provider.id == "openai"
    assert isinstance(providers.split_model("anthropic/claude-3.5-sonnet"), ModelRefusal)
    assert providers.qualified(choice.provider, choice.model) == (
        "openrouter/anthropic/claude-3.5-sonnet"
    )
    assert choice.provider.allows_model("anthropic/claude-3.5-sonnet")
    assert not choice.provider.allows_model("openai/gpt-4o")


def test_the_leak_guard_learns_every_listed_pattern() -> None:
    together = "tgp_v1_" + secrets.token_urlsafe(32)[:43]
    assert not contains_key(f"my key {together} oops")
    providers: ProviderList = parse_providers(
        '[providers.together]\nname = "Together"\nbase_url = "https://api.together.xyz/v1"\n'
        'keys_page = "https://k.example"\nkey_pattern = "tgp_v1_[A-Za-z0-9_-]{40,64}"\n',
        allow_insecure=False,
    )
    bot.keys.learn_key_patterns(p.key_pattern for p in providers if p.key_pattern)
    assert contains_key(f"my key {together} oops")
    assert together not in redact_keys(f"my key {together} oops")
    # A disguise does not hide it either.
    assert contains_key(f"my key {together[:10]}\u200b{together[10:]}")
    # OpenAI's, OpenRouter's, Anthropic's and Groq's are known whether listed or not.
    anthropic = (
        "sk-ant-api03-" + re.sub(r"[^A-Za-z0-9]", "x", secrets.token_urlsafe(80))[:93] + "AA"
    )
    for key in (make_key(), beta_key(), anthropic, "gsk_" + "aZ3kQ9" * 8 + "aZ3k"):
        assert contains_key(f"look: {key}"), key


async def test_a_postgres_database_from_before_providers_keeps_its_keys_as_openai_keys(
    fresh_postgres_url: str, master_key: str
) -> None:
    import asyncpg

    from storage.postgres import PostgresStore
    from storage.postgres import migrations as postgres_migrations

    key = make_key()
    old_payload = {"v": 1, "p": "console", "w": "", "u": "alice", "k": key}
    sealed = Fernet(master_key).encrypt(json.dumps(old_payload).encode())
    connection = await asyncpg.connect(fresh_postgres_url)
    try:
        await connection.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL)"
        )
        for migration in _before_providers(postgres_migrations()):
            await connection.execute(migration.script)
            await connection.execute(
                "INSERT INTO schema_version VALUES ($1, now())", migration.version
            )
        await connection.execute(
            "INSERT INTO member_keys (platform, workspace, user_id, key_id, sealed, masked,"
            " status, set_at) VALUES ('console', '', 'alice', 'k1', $1, 'sk-proj...abcd',"
            " 'valid', now())",
            sealed,
        )
    finally:
        await connection.close()
    change = await PostgresStore.migrate(url=fresh_postgres_url)
    assert [m.version for m in change.applied] == [
        m.version
        for m in postgres_migrations()
        if m not in _before_providers(postgres_migrations())
    ]
    store = await PostgresStore.open(url=fresh_postgres_url, pool_size=1)
    try:
        [stored] = await store.member_keys(ALICE)
        assert (stored.provider, stored.key_id) == ("openai", "k1")
        vault = KeyVault(master_keys=[master_key])
        assert vault.open(ALICE, stored.sealed) == key
        with pytest.raises(VaultError):
            vault.open(ALICE, stored.sealed, provider="beta")
        # One key per provider now: a second provider's key sits beside it.
        await store.save_key(
            ALICE,
            sealed=vault.seal(ALICE, "other", provider="beta"),
            masked="o...",
            fingerprint=fingerprint(master_key),
            now=datetime.now(UTC),
            provider="beta",
        )
        assert [k.provider for k in await store.member_keys(ALICE)] == ["beta", "openai"]
    finally:
        await store.close()


async def test_help_and_the_how_to_name_every_listed_provider(two: Two) -> None:
    commands = two.services.commands
    help_text = (await commands.run(ALICE, "help")).text
    assert "`alpha` (Alpha)" in help_text and "`beta` (Beta)" in help_text
    assert "OpenAI" not in help_text
    assert (await commands.run(ALICE, "mykey")).text == texts.how_to_set_any_key(["Alpha", "Beta"])
    # A provider's id alone is not a key: refused, sent nowhere.
    reply = await commands.run(ALICE, "setkey", "beta")
    assert not reply.ok and "/setkey beta KEY" in reply.text
    assert two.recorded() == 0


async def test_rotate_master_key_reseals_every_providers_keys_and_both_still_answer(
    tmp_path: Path,
) -> None:
    alpha = await FakeOpenAI().start()
    beta = await FakeOpenAI(models=BETA_MODELS).start()
    try:
        database_url = f"sqlite:///{tmp_path}/db.sqlite3"
        file = tmp_path / "providers.toml"
        file.write_text(providers_toml(alpha, beta))
        old = generate_master_key()
        (tmp_path / ".env").write_text(
            f"BYOK_MASTER_KEYS={old}\nDATABASE_URL={database_url}\nBYOK_PROVIDERS_FILE={file}\n"
        )
        settings = make_settings(
            alpha, master_keys=old, database_url=database_url, BYOK_PROVIDERS_FILE=str(file)
        )
        services = await open_services(settings)
        try:
            a, b = await keys_at_both(Two(alpha, beta, services))
        finally:
            await services.close()

        code, out, err = await run_cli("rotate-master-key", "--generate", cwd=tmp_path)
        assert code == 0, err
        assert "Re-sealed 2 keys" in out
        line = next(
            ln
            for ln in (tmp_path / ".env").read_text().splitlines()
            if ln.startswith("BYOK_MASTER_KEYS=")
        )
        new = line.split("=", 1)[1].split(",")[0]
        # The new master key alone opens both, each for its own provider, and both answer.
        settings = make_settings(
            alpha, master_keys=new, database_url=database_url, BYOK_PROVIDERS_FILE=str(file)
        )
        services = await open_services(settings)
        try:
            for model in ("alpha/gpt-4o", "beta/llama-3.3-70b"):
                assert (await services.commands.run(ALICE, "model", model)).ok
                sink = RecordingSink()
                turn = await services.core.handle_message(ask(ALICE, "hi"), sink)
                assert turn is not None and turn.failure is None, sink.privates
        finally:
            await services.close()
        assert [r.authorization for r in alpha.chat_requests()] == [f"Bearer {a}"]
        assert [r.authorization for r in beta.chat_requests()] == [f"Bearer {b}"]
    finally:
        await alpha.close()
        await beta.close()


async def test_model_output_repeating_a_listed_providers_key_is_masked_even_in_pieces() -> None:
    from bot.masking_sink import KeyMaskingSink

    together = "tgp_v1_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5kL7nP9r"
    bot.keys.learn_key_patterns([re.compile(r"tgp_v1_[A-Za-z0-9_-]{40,64}")])
    text = f"Sure! Your key is {together} and that is all."
    for size in (1, 3, 7, 50):
        inner = RecordingSink()
        sink = KeyMaskingSink(inner)
        await sink.start()
        for at in range(0, len(text), size):
            await sink.append(text[at : at + size])
        await sink.finish()
        shown = inner.text
        assert together not in shown and together[:20] not in shown, size
        assert shown.startswith("Sure! Your key is ") and shown.endswith(" and that is all.")


async def test_a_providers_429_retry_after_is_honoured_and_told(two: Two) -> None:
    _, b = await keys_at_both(two)
    assert (await two.services.commands.run(ALICE, "model", "beta/llama-3.3-70b")).ok
    # Groq-style: 429 with `retry-after` longer than a turn waits: told, not retried.
    two.beta.behaviours[b] = openai_server.RATE_LIMITED
    two.beta.retry_after = "30"
    sink = RecordingSink()
    turn = await two.services.core.handle_message(ask(ALICE, "hi"), sink)
    assert turn is not None and turn.failure is FailureKind.RATE_LIMITED
    beta = two.services.settings.providers.get("beta")
    assert sink.privates == [
        texts.provider_failure(FailureKind.RATE_LIMITED, retry_after=30.0, provider=beta)
    ]
    assert "30 s" in sink.privates[0]
    assert len(two.beta.chat_requests()) == 1 and two.alpha.chat_requests() == []


def _before_providers(known: list[Migration]) -> list[Migration]:
    """The migrations of a database from before providers were listed."""
    providers = next(m.version for m in known if m.name.endswith("_key_providers"))
    return [m for m in known if m.version < providers]


OPENROUTER_FIRST = """
[providers.openrouter]
name = "OpenRouter"
base_url = "https://openrouter.ai/api/v1"
key_pattern = "sk-or-v1-[0-9a-f]{64}"
keys_page = "https://openrouter.ai/settings/keys"

[providers.openai]
name = "OpenAI"
base_url = "https://api.openai.com/v1"
keys_page = "https://platform.openai.com/api-keys"
"""


def test_a_first_listed_providers_model_with_a_slash_keeps_its_provider() -> None:
    # OpenRouter's ids have a slash: stored bare, `openai/gpt-4o-mini` would read as OpenAI's.
    providers = parse_providers(OPENROUTER_FIRST, allow_insecure=False)
    openrouter = providers.get("openrouter")
    assert openrouter is not None
    for model in ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "plain-model"):
        choice = providers.split_model(providers.qualified(openrouter, model))
        assert isinstance(choice, ModelChoice), model
        assert (choice.provider.id, choice.model) == ("openrouter", model)
    # A provider's id is read whatever its case.
    choice = providers.split_model("OpenAI/gpt-4o")
    assert isinstance(choice, ModelChoice) and choice.provider.id == "openai"


async def test_setkey_fits_only_a_model_the_operator_allows(
    tmp_path: Path, master_key: str, database_url: str
) -> None:
    alpha = await FakeOpenAI(models=("gpt-4o-mini", "gpt-4.1")).start()
    file = tmp_path / "providers.toml"
    file.write_text(
        f"""
[providers.alpha]
name = "Alpha"
base_url = "{alpha.base_url}"
keys_page = "https://alpha.example/keys"
models = ["gpt-5-mini", "gpt-4.1"]
"""
    )
    services = await open_services(
        make_settings(
            alpha,
            master_keys=master_key,
            database_url=database_url,
            BYOK_PROVIDERS_FILE=str(file),
            BYOK_DEFAULT_MODEL="gpt-5-mini",
        )
    )
    try:
        key = make_key()
        alpha.behaviours[key] = openai_server.VALID
        reply = await services.commands.set_key(ALICE, key)
        assert "`gpt-4.1`" in reply.text and "gpt-4o-mini" not in reply.text
        sink = RecordingSink()
        await services.core.handle_message(ask(ALICE, "hi"), sink)
        (chat,) = alpha.chat_requests()
        assert chat.body is not None and chat.body["model"] == "gpt-4.1"
    finally:
        await services.close()
        await alpha.close()
