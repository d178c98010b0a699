from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.messages import IncomingMessage, Member
from bot.services import Services, open_services
from bot.settings import Settings
from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI

_PLATFORM_VARIABLES = (
    "DISCORD_BOT_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "BYOK_MASTER_KEYS",
    "DATABASE_URL",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
)


def make_key(prefix: str = "sk-proj-") -> str:
    """A made-up key in the precise project-key shape (never a real one)."""
    body = secrets.token_urlsafe(120).replace("=", "")
    return f"{prefix}{body[:74]}T3BlbkFJ{body[74:148]}"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's tokens, and never read a stray .env."""
    for variable in _PLATFORM_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


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


def make_settings(
    fake: FakeOpenAI, *, master_keys: str, database_url: str, **overrides: object
) -> Settings:
    """Settings from arguments only, never from a .env file or the environment's tokens."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        byok_master_keys=master_keys,  # type: ignore[arg-type]
        database_url=database_url,
        openai_base_url=fake.base_url,
        **overrides,  # type: ignore[arg-type]
    )


async def seed_keys(
    fake: FakeOpenAI, *, master_keys: str, database_url: str, names: Sequence[str]
) -> dict[str, str]:
    """Give each named console member a working key, as a separate run of the bot would."""
    services = await open_services(
        make_settings(fake, master_keys=master_keys, database_url=database_url)
    )
    try:
        return {name: await with_key(services, fake, member(name)) for name in names}
    finally:
        await services.close()


async def opened_keys(
    fake: FakeOpenAI, *, master_keys: str, database_url: str, names: Sequence[str]
) -> dict[str, str]:
    """Each named member's key as the vault opens it now (fails if it cannot)."""
    services = await open_services(
        make_settings(fake, master_keys=master_keys, database_url=database_url)
    )
    try:
        opened = {}
        for name in names:
            stored = await services.store.get_key(member(name))
            assert stored is not None, name
            opened[name] = services.vault.open(member(name), stored.sealed)
        return opened
    finally:
        await services.close()


@pytest.fixture
def settings(fake_openai: FakeOpenAI, master_key: str, db_path: Path) -> Settings:
    return make_settings(fake_openai, master_keys=master_key, database_url=f"sqlite:///{db_path}")


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings)
    yield opened
    await opened.close()


@dataclass
class RecordingSink:
    """A ReplySink that remembers everything the core did with it."""

    can_delete: bool = True
    started: int = 0
    finished: int = 0
    appended: list[str] = field(default_factory=list)
    privates: list[str] = field(default_factory=list)
    delete_attempts: int = 0

    @property
    def text(self) -> str:
        return "".join(self.appended)

    async def start(self) -> None:
        self.started += 1

    async def append(self, text: str) -> None:
        self.appended.append(text)

    async def finish(self) -> None:
        self.finished += 1

    async def private(self, text: str) -> None:
        self.privates.append(text)

    async def delete_original(self) -> bool:
        self.delete_attempts += 1
        return self.can_delete


def member(user: str, platform: str = "console", workspace: str = "") -> Member:
    return Member(platform, workspace, user)


def ask(
    who: Member, text: str, *, private: bool = False, channel: str = "general", history: tuple = ()
) -> IncomingMessage:  # type: ignore[type-arg]
    return IncomingMessage(
        member=who,
        text=text,
        is_private=private,
        addressed=True,
        channel="" if private else channel,
        server="" if private else "server-1",
        history=history,
    )


async def with_key(
    services: Services, fake: FakeOpenAI, who: Member, behaviour: str = openai_server.VALID
) -> str:
    key = make_key()
    fake.behaviours[key] = behaviour
    reply = await services.commands.set_key(who, key)
    assert reply.ok, reply.text
    return key
