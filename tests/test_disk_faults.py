"""Real database faults, not simulated ones: SQLite on a full disk and a read-only one (a
small tmpfs mounted for the test, where this machine lets us mount), SQLite refusing to
grow, and PostgreSQL connections cut under the bot."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services import Services, open_services
from app.settings import Settings
from bot import texts
from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import RecordingSink, ask, make_key, make_settings, member
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")


@contextlib.contextmanager
def small_disk(where: Path, *, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` at `where`; skipped where this machine does not let us mount."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0700" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> None:
    """Take every free byte of the filesystem `folder` is on."""
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()
            os.fsync(filler.fileno())


async def test_a_full_disk_is_told_truthfully_and_the_bot_recovers(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    with small_disk(tmp_path / "disk", size="2m") as disk:
        services = await open_services(
            make_settings(
                fake_openai,
                master_keys=generate_master_key(),
                database_url=f"sqlite:///{disk}/byok.sqlite3",
            )
        )
        try:
            before = make_key()
            fake_openai.behaviours[before] = openai_server.VALID
            assert (await services.commands.set_key(ALICE, before)).ok
            fill(disk)

            after = make_key()
            fake_openai.behaviours[after] = openai_server.VALID
            reply = await services.commands.set_key(ALICE, after)
            stored = await services.store.get_key(ALICE)
            assert stored is not None
            opened = services.vault.open(ALICE, stored.sealed)
            # Whatever SQLite managed, the reply says what is stored (the key check's try
            # may not even be countable: then nothing was asked and nothing changed).
            assert (reply.ok and opened == after) or (
                reply.text in (texts.KEY_NOT_SAVED, texts.STORE_UNAVAILABLE) and opened == before
            )
            for name in ("limit", "model", "usage", "mykey"):
                reply = await services.commands.run(ALICE, name, "daily 1 usd")
                assert reply.text  # answered, not raised
            # A turn needs its slot written (the limits every process shares): answered, or
            # told to try again with nothing asked of the provider.
            chats = len(fake_openai.chat_requests())
            sink = RecordingSink()
            await services.core.handle_message(ask(ALICE, "still answering?"), sink)
            assert sink.text == "You asked: still answering?" or (
                sink.privates == [texts.STORE_UNAVAILABLE]
                and len(fake_openai.chat_requests()) == chats
            )

            (disk / "filler").unlink()
            assert (await services.commands.run(ALICE, "limit", "daily 2 usd")).ok
            sink = RecordingSink()
            await services.core.handle_message(ask(ALICE, "and now?"), sink)
            assert sink.text == "You asked: and now?"
            await services.ledger.flush()
            assert services.ledger.unwritten_rows == 0
        finally:
            await services.close()


async def test_sqlite_refusing_to_grow_is_a_store_error_through_the_real_engine(
    settings: Settings, fake_openai: FakeOpenAI
) -> None:
    services = await open_services(settings)
    try:
        await _limit_growth(services)
        replies = []
        for _ in range(40):
            key = make_key()
            fake_openai.behaviours[key] = openai_server.VALID
            replies.append(await services.commands.set_key(member(uuid.uuid4().hex), key))
        assert texts.KEY_NOT_SAVED in [r.text for r in replies]
    finally:
        await services.close()


async def _limit_growth(services: Services) -> None:
    # SQLite's own "database or disk is full", from a page limit just above what is used.
    db = services.store._db  # type: ignore[attr-defined]
    (pages,) = (await db.execute_fetchall("PRAGMA page_count"))[0]
    await db.execute(f"PRAGMA max_page_count = {int(pages) + 2}")


async def test_start_up_database_faults_are_one_line_naming_database_url(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    cases = {
        "a file where a folder should be": f"sqlite:///{tmp_path}/a-file/db.sqlite3",
        "a folder named as the database": f"sqlite:///{tmp_path}/a-folder",
    }
    with small_disk(tmp_path / "read-only", size="1m", read_only=True) as read_only:
        cases["a read-only filesystem"] = f"sqlite:///{read_only}/db.sqlite3"
        with small_disk(tmp_path / "full", size="64k") as full:
            fill(full)
            cases["a full disk"] = f"sqlite:///{full}/db.sqlite3"
            for case, url in cases.items():
                code, _, err = await run_cli(
                    "console",
                    cwd=tmp_path,
                    env={"BYOK_MASTER_KEYS": generate_master_key(), "DATABASE_URL": url},
                )
                lines = err.strip().splitlines()
                assert code == 2, (case, err)
                assert len(lines) == 1 and "DATABASE_URL" in lines[0], (case, err)
                assert "Traceback" not in err, case


async def test_postgres_connections_cut_under_the_bot_heal_and_lose_no_key(
    postgres_url: str, fake_openai: FakeOpenAI
) -> None:
    import asyncpg

    services = await open_services(
        make_settings(fake_openai, master_keys=generate_master_key(), database_url=postgres_url)
    )
    try:
        key = make_key()
        fake_openai.behaviours[key] = openai_server.VALID
        assert (await services.commands.set_key(ALICE, key)).ok
        admin = await asyncpg.connect(postgres_url)
        try:
            # What a server restart or a failover does to every open connection.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        replies = [await services.commands.run(ALICE, "mykey") for _ in range(3)]
        # Told "try again" at worst, never raised; and back on its own within a few tries.
        assert all(r.ok or r.text == texts.STORE_UNAVAILABLE for r in replies)
        assert replies[-1].ok and key[-4:] in replies[-1].text
        sink = RecordingSink()
        await services.core.handle_message(ask(ALICE, "after the cut"), sink)
        assert sink.text == "You asked: after the cut"
    finally:
        await services.close()
