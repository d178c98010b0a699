from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from app.services import Services, open_services
from app.settings import Settings, all_variables
from bot.vault import generate_master_key
from tests.fakes import postgres
from tests.fakes.core import make_settings
from tests.fakes.openai_server import FakeOpenAI

# Locally Hypothesis explores new examples each run (that is how it finds bugs); CI replays
# a fixed set, so a run on the same commit always gives the same answer.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's tokens, and never read a stray .env."""
    for variable in (*all_variables(), "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _logging_filters_stay_in_their_test() -> Iterator[None]:
    """configure_logging puts byok-bot's filters on every handler, pytest's own capture
    handlers included, and those outlive the test: a later test's caplog would then see
    records already rewritten (a traceback turned into text). Each test leaves them as found."""
    before = {handler: list(handler.filters) for handler in logging.getLogger().handlers}
    yield
    for handler, filters in before.items():
        handler.filters[:] = filters


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = await FakeOpenAI().start()
    yield fake
    await fake.close()


@pytest.fixture
def master_key() -> str:
    return generate_master_key()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "byok.sqlite3"


@pytest.fixture
def database_url(db_path: Path) -> str:
    """The database `settings` name; a module overrides it to run on PostgreSQL too."""
    return f"sqlite:///{db_path}"


@pytest.fixture
def settings(fake_openai: FakeOpenAI, master_key: str, database_url: str) -> Settings:
    return make_settings(fake_openai, master_keys=master_key, database_url=database_url)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """This test session's own PostgreSQL database (byok_test_<random>), migrated as
    `byok-bot migrate` would, and dropped at the end.
    Without a server the tests that need it are skipped, saying why, or fail when
    BYOK_REQUIRE_POSTGRES=1 (CI) says a server must be there."""
    reason = postgres.run_async(postgres.unreachable_reason())
    if reason is not None:
        if os.environ.get("BYOK_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and BYOK_REQUIRE_POSTGRES=1 requires one", pytrace=False)
        pytest.skip(f"{reason}: PostgreSQL tests skipped (BYOK_REQUIRE_POSTGRES=1 fails instead)")
    name = postgres.run_async(postgres.migrated_database())
    try:
        yield postgres.database_url(name)
    finally:
        postgres.run_async(postgres.drop_database(name))


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's PostgreSQL database with every table emptied for this test."""
    postgres.run_async(postgres.empty_tables(postgres_database))
    return postgres_database


@pytest.fixture
async def fresh_postgres_url(postgres_database: str) -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own, never migrated, dropped after the test."""
    name = await postgres.create_database()
    yield postgres.database_url(name)
    await postgres.drop_database(name)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings)
    yield opened
    await opened.close()
