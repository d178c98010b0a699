"""Discord with several providers listed: /setkey names one (a choice, then the modal),
/removekey may name one, /model autocompletes `provider/model` from every key."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bot.keys
from app.services import Services, open_services
from bot.domain import Member
from tests.discord.conftest import run_client, stop_client
from tests.fakes import openai_server
from tests.fakes.core import make_key, make_settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.payloads import BOT_BASE, MANAGE_MESSAGES
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(autouse=True)
def _learnt_patterns_stay_in_their_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.keys, "_listed_patterns", ())


@pytest.fixture
async def beta() -> AsyncIterator[FakeOpenAI]:
    fake = await FakeOpenAI(models=("llama-3.3-70b",)).start()
    yield fake
    await fake.close()


@pytest.fixture
async def two_services(
    tmp_path: Path, fake_openai: FakeOpenAI, beta: FakeOpenAI, master_key: str, database_url: str
) -> AsyncIterator[Services]:
    file = tmp_path / "providers.toml"
    file.write_text(
        f'[providers.alpha]\nname = "Alpha"\nbase_url = "{fake_openai.base_url}"\n'
        'keys_page = "https://alpha.example/keys"\n'
        f'[providers.beta]\nname = "Beta"\nbase_url = "{beta.base_url}"\n'
        'keys_page = "https://beta.example/keys"\nkey_pattern = "sk-or-v1-[0-9a-f]{64}"\n'
    )
    settings = make_settings(
        fake_openai,
        master_keys=master_key,
        database_url=database_url,
        BYOK_PROVIDERS_FILE=str(file),
    )
    services = await open_services(settings)
    yield services
    await services.close()


async def test_setkey_names_a_provider_then_takes_the_key_in_a_modal(
    fake_discord: FakeDiscord,
    two_services: Services,
    fake_openai: FakeOpenAI,
    beta: FakeOpenAI,
) -> None:
    fake = fake_discord
    alice = fake.add_user("alice")
    guild = fake.add_guild("Test server", owner=alice, bot_permissions=BOT_BASE | MANAGE_MESSAGES)
    general = fake.add_channel(guild, "general")
    client, task = await run_client(fake, two_services)
    try:
        [option] = fake.commands["setkey"]["options"]
        assert option["name"] == "provider" and option["required"]
        assert [c["value"] for c in option["choices"]] == ["alpha", "beta"]

        member = Member("discord", "", str(alice.id))
        b = "sk-or-v1-" + secrets.token_hex(32)
        beta.behaviours[b] = openai_server.VALID
        opened = await fake.command(alice, general, "setkey", {"provider": "beta"})
        await fake.wait_for(lambda: opened.modal is not None)
        assert opened.modal is not None and "Beta" in opened.modal["title"]
        submitted = await fake.submit_modal(opened, b)
        await fake.wait_for(lambda: bool(submitted.texts) and "saved" in submitted.texts[-1])
        assert beta.authorizations("/models") == [f"Bearer {b}"]
        assert fake_openai.requests == []
        [stored] = await two_services.store.member_keys(member)
        assert stored.provider == "beta"

        # An Alpha-shaped key offered as Beta's never leaves the bot.
        a = make_key()
        fake_openai.behaviours[a] = openai_server.VALID
        opened = await fake.command(alice, general, "setkey", {"provider": "beta"})
        await fake.wait_for(lambda: opened.modal is not None)
        submitted = await fake.submit_modal(opened, a)
        await fake.wait_for(lambda: bool(submitted.texts))
        assert "doesn't look like a Beta key" in submitted.texts[-1]
        assert fake_openai.requests == [] and len(beta.requests) == 1
        assert all(a not in call.raw for call in fake.calls)

        listed = await fake.autocomplete(alice, general, "model", "name", "llama")
        await fake.wait_for(lambda: bool(listed.callbacks))
        choices = listed.callbacks[-1]["data"]["choices"]
        assert [c["value"] for c in choices] == ["beta/llama-3.3-70b"]

        removed = await fake.command(alice, general, "removekey", {"provider": "beta"})
        await fake.wait_for(lambda: bool(removed.texts))
        assert "Beta key is deleted" in removed.texts[-1]
        assert await two_services.store.member_keys(member) == []
    finally:
        await stop_client(client, task)
