"""SQLite shared by more than one process on one machine: ten starting together on a new
file, and a second process reading and writing while the bot deletes keys under load."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
from pathlib import Path

from bot.domain import Member
from bot.vault import generate_master_key
from storage.sqlite import SqliteStore, migrations
from tests.fakes.cli import REPO, run_cli

NOW_ISO = "2026-01-01T00:00:00+00:00"


async def test_ten_processes_starting_together_on_a_new_database_all_start(
    tmp_path: Path,
) -> None:
    env = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/data/new.sqlite3",
    }
    results = await asyncio.gather(
        *(run_cli("console", cwd=tmp_path, env=env, stdin="/quit\n") for _ in range(10))
    )
    for code, _, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    with sqlite3.connect(tmp_path / "data" / "new.sqlite3") as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_version")]
    assert versions == [migration.version for migration in migrations()]


# A second process on the same file, as `byok-bot audit` or a second console would be:
# it reads and writes in a loop while the bot is busy.
_OTHER_PROCESS = textwrap.dedent(
    """
    import asyncio, sys, time
    from bot.domain import Member
    from storage.sqlite import SqliteStore

    async def main() -> None:
        store = await SqliteStore.open(__import__("pathlib").Path(sys.argv[1]))
        deadline = time.monotonic() + float(sys.argv[2])
        done = 0
        try:
            while time.monotonic() < deadline:
                who = Member("other", "", f"u{done % 50}")
                await store.set_model(who, f"model-{done}")
                await store.get_model(who)
                await store.audit_events(limit=20)
                done += 1
        finally:
            await store.close()
        print(done)

    asyncio.run(main())
    """
)


async def test_a_second_process_is_never_locked_out_while_the_bot_deletes_keys(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    path = tmp_path / "shared.sqlite3"
    await SqliteStore.migrate(path)
    store = await SqliteStore.open(path)
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _OTHER_PROCESS,
        str(path),
        "6",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        now = datetime.now(UTC)
        members = [Member("slack", "T1", f"U{i}") for i in range(400)]

        async def churn(share: list[Member]) -> None:
            # Every delete used to checkpoint the WAL in line, waiting on the other
            # process's readers while holding the write lock.
            for who in share:
                await store.save_key(who, sealed=b"x" * 200, masked="m", fingerprint="f", now=now)
                await store.delete_key(who)

        await asyncio.gather(*(churn(members[i::8]) for i in range(8)))
        out, err = await asyncio.wait_for(other.communicate(), 60)
    finally:
        if other.returncode is None:
            other.kill()
            await other.wait()
        await store.close()
    assert other.returncode == 0, err.decode()
    assert int(out.decode().strip()) > 0
    assert b"locked" not in err
