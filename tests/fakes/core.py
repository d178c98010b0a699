"""Helpers every test (and the bench) shares: made-up keys, members, settings and a
recording ReplySink that drive the real core."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from app.services import Services, open_services
from app.settings import GROUPS, Settings, load_settings
from bot.domain import HistoryTurn, IncomingMessage, Member
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI


def make_key(prefix: str = "sk-proj-") -> str:
    """A made-up key in the precise project-key shape (never a real one)."""
    body = secrets.token_urlsafe(120).replace("=", "")
    return f"{prefix}{body[:74]}T3BlbkFJ{body[74:148]}"


class Provider(Protocol):
    """Where the provider answers: a FakeOpenAI here, or one in another process (the bench's
    workers reach the parent's fake over loopback)."""

    @property
    def base_url(self) -> str: ...


def make_settings(
    fake: Provider, *, master_keys: str, database_url: str, **variables: object
) -> Settings:
    """Settings from arguments only, never from a .env file; `variables` are named like the
    environment variables (any case), e.g. `byok_max_concurrent_per_member=2`."""
    return load_settings(
        None,
        {
            "BYOK_MASTER_KEYS": master_keys,
            "DATABASE_URL": database_url,
            "OPENAI_BASE_URL": fake.base_url,
            **variables,
        },
    )


def with_variables(settings: Settings, variables: Mapping[str, Any]) -> Settings:
    """`settings` with some variables replaced by already-typed values (e.g. a SecretStr)."""
    changed: dict[str, Any] = {}
    for name, group_type in GROUPS.items():
        group = changed.get(name, getattr(settings, name))
        updates = {
            field_name: variables[str(info.validation_alias)]
            for field_name, info in group_type.model_fields.items()
            if str(info.validation_alias) in variables
        }
        if updates:
            changed[name] = group.model_copy(update=updates)
    unknown = set(variables) - {v for g in GROUPS.values() for v in g.variables()}
    assert not unknown, f"not settings: {unknown}"
    return replace(settings, **changed)


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
    who: Member,
    text: str,
    *,
    private: bool = False,
    channel: str = "general",
    history: tuple[HistoryTurn, ...] = (),
) -> IncomingMessage:
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
