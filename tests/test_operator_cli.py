"""The operator's CLI: init beside a database of sealed keys, reset, BYOK_ENV_FILE, audit."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.vault import generate_master_key
from tests.fakes.cli import REPO, run_cli
from tests.fakes.core import seed_keys
from tests.fakes.openai_server import FakeOpenAI


async def test_init_never_writes_a_new_master_key_beside_sealed_keys(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    database_url = f"sqlite:///{tmp_path}/data/byok.sqlite3"
    await seed_keys(
        fake_openai, master_keys=generate_master_key(), database_url=database_url, names=["a"]
    )
    # `cp .env.example .env` then `make run`: no master key, a database from before.
    (tmp_path / ".env").write_text(f"BYOK_MASTER_KEYS=\nDATABASE_URL={database_url}\n")
    code, out, err = await run_cli("init", "--if-missing", cwd=tmp_path)
    assert code == 2, out + err
    (line,) = err.strip().splitlines()
    assert line.startswith("byok-bot: BYOK_MASTER_KEYS: not set, but the database holds 1 sealed")
    assert "byok-bot reset" in line
    assert "BYOK_MASTER_KEYS=\n" in (tmp_path / ".env").read_text()

    # The way out: reset, after naming the file (a wrong name deletes nothing).
    code, out, _ = await run_cli("reset", cwd=tmp_path, stdin="something else\n")
    assert code == 1 and "nothing was deleted" in out
    assert (tmp_path / "data" / "byok.sqlite3").exists()
    code, out, _ = await run_cli("reset", cwd=tmp_path, stdin="byok.sqlite3\n")
    assert code == 0 and "Deleted" in out
    assert not list((tmp_path / "data").glob("byok.sqlite3*"))
    code, out, err = await run_cli("init", "--if-missing", cwd=tmp_path)
    assert code == 0 and "Wrote a new master key" in out, err


async def test_reset_refuses_postgresql_in_one_line(tmp_path: Path) -> None:
    code, _, err = await run_cli(
        "reset",
        "--confirm",
        "x",
        cwd=tmp_path,
        env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/byok"},
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "dropdb" in err


async def test_byok_env_file_chooses_where_the_settings_are(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    env = {"BYOK_ENV_FILE": str(conf / "bot.env")}
    (conf / "bot.env").write_text(f"DATABASE_URL=sqlite:///{tmp_path}/elsewhere/db.sqlite3\n")
    code, out, err = await run_cli("init", cwd=tmp_path, env=env)
    assert code == 0 and str(conf / "bot.env") in out, err
    assert "BYOK_MASTER_KEYS=" in (conf / "bot.env").read_text()
    assert not (tmp_path / ".env").exists()
    code, _, err = await run_cli("console", cwd=tmp_path, env=env, stdin="/quit\n")
    assert code == 0, err
    assert (tmp_path / "elsewhere" / "db.sqlite3").exists()


async def test_audit_takes_the_ids_the_logs_print_and_a_closed_pipe(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    master_keys = generate_master_key()
    database_url = f"sqlite:///{tmp_path}/db.sqlite3"
    await seed_keys(
        fake_openai, master_keys=master_keys, database_url=database_url, names=["alice", "bob"]
    )
    env = {"BYOK_MASTER_KEYS": master_keys, "DATABASE_URL": database_url}
    code, out, err = await run_cli("audit", "--user", "console:-:alice", cwd=tmp_path, env=env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("time (UTC)")
    assert lines[1:] and all(" alice " in line for line in lines[1:])
    code, out, _ = await run_cli("audit", "--user", "alice", cwd=tmp_path, env=env)
    assert code == 0 and len(out.splitlines()) == len(lines)

    # `byok-bot audit | head -1`: the reader leaves early; no traceback, no error status.
    reader, writer = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "audit",
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **env},
        stdout=writer,
        stderr=asyncio.subprocess.PIPE,
    )
    os.close(writer)
    os.close(reader)  # nobody reads: every write meets a closed pipe
    _, err_bytes = await asyncio.wait_for(process.communicate(), 60)
    assert b"Traceback" not in err_bytes and b"BrokenPipe" not in err_bytes
    assert process.returncode == 0


def test_a_member_reads_back_as_the_logs_print_it() -> None:
    from bot.domain import Member

    for member in (Member("discord", "", "1234"), Member("slack", "T1", "U1")):
        assert Member.parse(str(member)) == member
    for text in ("alice", "slack:T1", "slack::U1", "a:b:c:d"):
        assert Member.parse(text) is None
