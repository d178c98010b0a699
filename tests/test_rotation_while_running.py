"""Rotating the master key with the CLI (another process) while the bot keeps serving."""

from __future__ import annotations

from pathlib import Path

from app.envfile import master_keys_reader
from app.services import Services, open_services
from bot.vault import KeyVault, fingerprint, generate_master_key
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import (
    RecordingSink,
    ask,
    make_key,
    make_settings,
    member,
    opened_keys,
    with_key,
)
from tests.fakes.openai_server import FakeOpenAI

ALICE, BOB, CAROL = member("alice"), member("bob"), member("carol")


def master_keys_in(env_file: Path) -> list[str]:
    lines = env_file.read_text().splitlines()
    line = next(ln for ln in lines if ln.startswith("BYOK_MASTER_KEYS="))
    return line.split("=", 1)[1].split(",")


async def answered_with(services: Services, fake: FakeOpenAI, who: str, key: str) -> bool:
    sink = RecordingSink()
    turn = await services.core.handle_message(ask(member(who), f"hi from {who}"), sink)
    return (
        turn is not None
        and turn.failure is None
        and sink.privates == []
        and fake.chat_requests()[-1].authorization == f"Bearer {key}"
    )


async def test_the_running_bot_keeps_serving_through_a_rotation_by_another_process(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    database_url = f"sqlite:///{tmp_path}/db.sqlite3"
    old = generate_master_key()
    env_file = tmp_path / ".env"
    env_file.write_text(f"BYOK_MASTER_KEYS={old}\nDATABASE_URL={database_url}\n")
    services = await open_services(
        make_settings(fake_openai, master_keys=old, database_url=database_url),
        master_keys_source=master_keys_reader(env_file),
    )
    try:
        alice_key = await with_key(services, fake_openai, ALICE)
        assert await answered_with(services, fake_openai, "alice", alice_key)

        # The README's procedure, step 1, while the bot runs.
        code, out, err = await run_cli("rotate-master-key", "--generate", cwd=tmp_path)
        assert code == 0 and "Re-sealed 1 key " in out, err
        new = master_keys_in(env_file)[0]
        assert new != old

        # Alice's row is now sealed under a key the bot was not started with.
        assert await answered_with(services, fake_openai, "alice", alice_key)
        # A key set now is sealed under the new master key straight away.
        bob_key = await with_key(services, fake_openai, BOB)
        bob_row = await services.store.get_key(BOB)
        assert bob_row is not None
        assert KeyVault(master_keys=[new]).open(BOB, bob_row.sealed) == bob_key
        assert await services.store.master_key_fingerprints() == {fingerprint(new)}

        # A key sealed under the old master key while the rotation ran (a bot that read
        # `.env` just before the new key was written) is what step 2 re-seals.
        carol_key = make_key()
        fake_openai.behaviours[carol_key] = openai_server.VALID
        await services.store.save_key(
            CAROL,
            sealed=KeyVault(master_keys=[old]).seal(CAROL, carol_key),
            masked="m",
            fingerprint=fingerprint(old),
            now=bob_row.set_at,
        )
        code, out, err = await run_cli("rotate-master-key", cwd=tmp_path)
        assert code == 0 and "Re-sealed 3 keys" in out, err

        # Step 3: the old key leaves `.env`; the running bot keeps it until it stops.
        env_file.write_text(f"BYOK_MASTER_KEYS={new}\nDATABASE_URL={database_url}\n")
        for who, key in (("alice", alice_key), ("bob", bob_key), ("carol", carol_key)):
            assert await answered_with(services, fake_openai, who, key), who
    finally:
        await services.close()

    # Restarted with the new key alone, every key opens.
    opened = await opened_keys(
        fake_openai, master_keys=new, database_url=database_url, names=["alice", "bob", "carol"]
    )
    assert opened == {"alice": alice_key, "bob": bob_key, "carol": carol_key}


def test_a_reloading_vault_adds_keys_and_never_drops_one() -> None:
    old, new = generate_master_key(), generate_master_key()
    in_file = [old]
    vault = KeyVault(master_keys=[old], reload=lambda: in_file)
    key = make_key()
    under_old = vault.seal(ALICE, key)
    in_file[:] = [new, old]
    under_new = vault.seal(ALICE, key)
    assert vault.sealing_fingerprint == fingerprint(new)
    assert KeyVault(master_keys=[new]).open(ALICE, under_new) == key
    in_file[:] = [new]
    assert vault.open(ALICE, under_old) == key
    # A file that cannot be read (the reader gives nothing) changes nothing either.
    in_file[:] = []
    assert not vault.reload()
    assert vault.open(ALICE, under_old) == key


def test_the_reader_ignores_a_half_written_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BYOK_MASTER_KEYS=not-a-fernet-key\n")
    assert master_keys_reader(env_file)() == []
    key = generate_master_key()
    env_file.write_text(f"BYOK_MASTER_KEYS={key}\n")
    assert master_keys_reader(env_file)() == [key]
