"""DATABASE_URL names a plain SQLite file, and that file, its companions and its folder are
private on every start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.vault import generate_master_key
from storage.sqlite import SqliteStore
from tests.fakes.cli import run_cli


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """What many hosts have: new files readable by everyone."""
    saved = os.umask(0o022)
    yield
    os.umask(saved)


async def start(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    code, _, err = await run_cli(
        "console", cwd=cwd, env={"BYOK_MASTER_KEYS": generate_master_key(), **env}
    )
    return code, err


def assert_one_line_naming_database_url(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "DATABASE_URL" in lines[0]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///file:byok.sqlite3",
        "sqlite:///FILE:byok.sqlite3",
        "sqlite:///file:byok?mode=memory&cache=shared",
        "sqlite:///data/byok.sqlite3?mode=memory",
        "sqlite:///data/byok.sqlite3?mode=rwc",
        "sqlite:///:memory:",
    ],
)
async def test_sqlite_uris_queries_and_memory_are_refused(tmp_path: Path, url: str) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    code, err = await start({"DATABASE_URL": url}, folder)
    assert_one_line_naming_database_url(code, err)
    assert "plain file path" in err
    # Refused before anything was created, under any name.
    assert list(folder.iterdir()) == []


async def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n" * 100)
    code, err = await start({"DATABASE_URL": "sqlite:///notes.txt"}, tmp_path)
    assert_one_line_naming_database_url(code, err)
    assert "not an SQLite database" in err
    assert notes.read_text() == "shopping list\n" * 100


async def test_a_folder_is_not_a_database_file_either(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    code, err = await start({"DATABASE_URL": "sqlite:///data"}, tmp_path)
    assert_one_line_naming_database_url(code, err)


async def test_a_plain_relative_path_still_works(tmp_path: Path) -> None:
    code, err = await start({"DATABASE_URL": "sqlite:///data/byok.sqlite3"}, tmp_path)
    assert code == 0, err
    assert (tmp_path / "data" / "byok.sqlite3").is_file()


@pytest.mark.usefixtures("loose_umask")
async def test_a_new_database_is_private_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "data" / "byok.sqlite3"
    await SqliteStore.migrate(path)
    store = await SqliteStore.open(path)
    try:
        assert mode(path.parent) == 0o700
        for name in ("byok.sqlite3", "byok.sqlite3-wal", "byok.sqlite3-shm"):
            assert mode(path.parent / name) == 0o600, name
    finally:
        await store.close()


@pytest.mark.usefixtures("loose_umask")
async def test_an_existing_loose_folder_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    await SqliteStore.migrate(folder / "byok.sqlite3")
    assert mode(folder) == 0o700


@pytest.mark.usefixtures("loose_umask")
async def test_modes_are_tightened_again_on_every_start(tmp_path: Path) -> None:
    path = tmp_path / "data" / "byok.sqlite3"
    await SqliteStore.migrate(path)
    running = await SqliteStore.open(path)
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    try:
        # Loosened while it runs (a restore, an operator's chmod -R): the next start repairs it.
        path.parent.chmod(0o755)
        for file in files:
            file.chmod(0o644)
        again = await SqliteStore.open(path)
        await again.close()
        assert mode(path.parent) == 0o700
        for file in files:
            assert mode(file) == 0o600, file.name
    finally:
        await running.close()
