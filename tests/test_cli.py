"""The `byok-bot` command as an operator runs it, in a subprocess."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.services import open_services
from bot.vault import generate_master_key
from tests.fakes.cli import run_cli
from tests.fakes.core import make_settings, opened_keys, seed_keys
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("BYOK_MASTER_KEYS", "not-a-fernet-key"),
        ("OPENAI_BASE_URL", "ftp://example"),
        ("BYOK_HTTP_PORT", "seventy"),
        ("BYOK_MAX_CONTEXT_TOKENS", "-5"),
    ],
)
async def test_a_bad_setting_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, variable: str, value: str
) -> None:
    code, _, err = await run_cli("run", cwd=tmp_path, env={variable: value})
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert variable in lines[0]
    assert "Traceback" not in err
    if variable == "BYOK_MASTER_KEYS":
        assert value not in err


async def test_missing_master_key_stops_start_up(tmp_path: Path) -> None:
    code, _, err = await run_cli("run", cwd=tmp_path, stdin="hello\n")
    assert code == 2
    assert "BYOK_MASTER_KEYS is not set" in err and "byok-bot init" in err
    assert "Traceback" not in err


async def test_wrong_master_key_stops_start_up_cleanly(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    database_url = f"sqlite:///{tmp_path}/db.sqlite3"
    await seed_keys(
        fake_openai, master_keys=generate_master_key(), database_url=database_url, names=["alice"]
    )

    code, out, err = await run_cli(
        "console",
        cwd=tmp_path,
        env={"BYOK_MASTER_KEYS": generate_master_key(), "DATABASE_URL": database_url},
        stdin="/mykey\n",
    )
    assert code == 2
    assert "does not include the master key" in err
    assert "Traceback" not in err
    assert "Your key" not in out


async def test_init_writes_a_private_env_once(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=INFO\n")
    code, out, _ = await run_cli("init", cwd=tmp_path)
    assert code == 0 and "Wrote a new master key" in out
    env_file = tmp_path / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    content = env_file.read_text()
    assert "LOG_LEVEL=INFO" in content
    first = [ln for ln in content.splitlines() if ln.startswith("BYOK_MASTER_KEYS=")]
    assert len(first) == 1
    assert first[0].split("=", 1)[1] not in out

    code, out, _ = await run_cli("init", cwd=tmp_path)
    assert code == 1 and "already set" in out
    code, out, _ = await run_cli("init", "--if-missing", cwd=tmp_path)
    assert code == 0 and out == ""
    assert env_file.read_text() == content


async def test_rotation_end_to_end(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    database_url = f"sqlite:///{tmp_path}/db.sqlite3"
    old = generate_master_key()
    (tmp_path / ".env").write_text(f"BYOK_MASTER_KEYS={old}\nDATABASE_URL={database_url}\n")
    keys = await seed_keys(
        fake_openai, master_keys=old, database_url=database_url, names=["alice", "bob"]
    )

    code, out, err = await run_cli("rotate-master-key", "--generate", cwd=tmp_path)
    assert code == 0, err
    assert "Re-sealed 2 keys" in out
    line = next(
        ln
        for ln in (tmp_path / ".env").read_text().splitlines()
        if ln.startswith("BYOK_MASTER_KEYS=")
    )
    new, kept_old = line.split("=", 1)[1].split(",")
    assert kept_old == old and new != old
    assert new not in out and old not in out

    # The old key can now be dropped and every key still opens.
    opened = await opened_keys(
        fake_openai, master_keys=new, database_url=database_url, names=list(keys)
    )
    assert opened == keys
    services = await open_services(
        make_settings(fake_openai, master_keys=new, database_url=database_url)
    )
    try:
        resealed = [
            e.user or "" for e in await services.store.audit_events() if e.event == "key_resealed"
        ]
        assert sorted(resealed) == ["alice", "bob"]
    finally:
        await services.close()

    # And the old key alone is now refused at start-up.
    code, _, err = await run_cli(
        "console",
        cwd=tmp_path,
        env={"BYOK_MASTER_KEYS": old, "DATABASE_URL": database_url},
        stdin="",
    )
    assert code == 2 and "does not include the master key" in err


async def test_rotation_with_an_operator_supplied_key(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    database_url = f"sqlite:///{tmp_path}/db.sqlite3"
    old, new = generate_master_key(), generate_master_key()
    keys = await seed_keys(fake_openai, master_keys=old, database_url=database_url, names=["alice"])
    code, out, err = await run_cli(
        "rotate-master-key",
        cwd=tmp_path,
        env={"BYOK_MASTER_KEYS": f"{new},{old}", "DATABASE_URL": database_url},
    )
    assert code == 0 and "Re-sealed 1 key " in out, err
    assert not (tmp_path / ".env").exists()
    opened = await opened_keys(
        fake_openai, master_keys=new, database_url=database_url, names=["alice"]
    )
    assert opened == keys


async def test_an_unreachable_postgres_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = await run_cli(
        "run",
        cwd=tmp_path,
        env={
            "BYOK_MASTER_KEYS": generate_master_key(),
            "DATABASE_URL": f"postgresql://byok:secret-word@127.0.0.1:{port}/byok",
        },
    )
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("byok-bot: DATABASE_URL: "), err
    assert "connection refused" in lines[0] and "secret-word" not in err


async def test_invite_url_from_the_application_id(tmp_path: Path) -> None:
    from adapters.discord import INVITE_PERMISSIONS

    code, out, err = await run_cli(
        "invite-url", cwd=tmp_path, env={"DISCORD_APPLICATION_ID": "123456789012345678"}
    )
    assert code == 0, err
    url = out.strip()
    assert url.startswith("https://discord.com/")
    assert "client_id=123456789012345678" in url
    assert "scope=bot+applications.commands" in url or "scope=bot%20applications.commands" in url
    assert f"permissions={INVITE_PERMISSIONS.value}" in url
    assert not INVITE_PERMISSIONS.administrator


async def test_invite_url_needs_an_id_or_a_token(tmp_path: Path) -> None:
    code, _, err = await run_cli("invite-url", cwd=tmp_path)
    assert code == 2 and "DISCORD_APPLICATION_ID" in err and "Traceback" not in err


async def test_slack_http_mode_without_signing_secret_exits_2(tmp_path: Path) -> None:
    code, _, err = await run_cli(
        "run",
        cwd=tmp_path,
        env={
            "BYOK_MASTER_KEYS": generate_master_key(),
            "SLACK_BOT_TOKEN": "xoxb-made-up",
            # Set as an operator's default (3000) would be; run_cli's default is none.
            "BYOK_HTTP_PORT": str(free_port()),
        },
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "SLACK_SIGNING_SECRET" in lines[0], err


async def test_a_rotation_that_fails_midway_loses_no_key(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import cmd_rotate
    from app.settings import load_settings
    from storage.sqlite import SqliteStore

    database_url = f"sqlite:///{tmp_path}/db.sqlite3"
    old = generate_master_key()
    (tmp_path / ".env").write_text(f"BYOK_MASTER_KEYS={old}\nDATABASE_URL={database_url}\n")
    keys = await seed_keys(fake_openai, master_keys=old, database_url=database_url, names=["a"])

    async def disk_full(self: SqliteStore, *args: object, **kwargs: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(SqliteStore, "reseal_all", disk_full)
    with pytest.raises(OSError, match="disk full"):
        await cmd_rotate(load_settings(tmp_path / ".env"), generate=True)
    monkeypatch.undo()
    line = next(ln for ln in (tmp_path / ".env").read_text().splitlines() if ln.startswith("BYOK_"))
    new, kept_old = line.split("=", 1)[1].split(",")
    assert kept_old == old
    # The new key was saved before anything was sealed with it; the old one still opens all.
    for master_keys in (f"{new},{old}", old):
        opened = await opened_keys(
            fake_openai, master_keys=master_keys, database_url=database_url, names=["a"]
        )
        assert opened == keys
    assert not list(tmp_path.glob(".env.*.tmp"))


async def test_generate_refuses_when_the_master_keys_come_from_the_environment(
    tmp_path: Path,
) -> None:
    code, _, err = await run_cli(
        "rotate-master-key",
        "--generate",
        cwd=tmp_path,
        env={"BYOK_MASTER_KEYS": generate_master_key()},
    )
    assert code == 2 and "set in the environment" in err
    assert not (tmp_path / ".env").exists()


async def test_version_is_printed(tmp_path: Path) -> None:
    from importlib.metadata import version

    code, out, _ = await run_cli("--version", cwd=tmp_path)
    assert code == 0 and out.strip() == f"byok-bot {version('byok-bot')}"


async def test_invite_url_refuses_an_application_id_that_is_not_a_number(tmp_path: Path) -> None:
    code, out, err = await run_cli(
        "invite-url", cwd=tmp_path, env={"DISCORD_APPLICATION_ID": "my-bot"}
    )
    assert code == 2 and out == ""
    assert err.strip() == (
        "byok-bot: DISCORD_APPLICATION_ID: must be the application's numeric id (got 'my-bot')"
    )


async def test_a_mistyped_command_line_is_one_line_with_exit_2(tmp_path: Path) -> None:
    for arguments in (("migrat",), ("audit", "--since", "soon"), ("audit", "--color"), ()):
        code, out, err = await run_cli(*arguments, cwd=tmp_path)
        assert code == 2, arguments
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "--help" in lines[0], err
        assert out == ""
