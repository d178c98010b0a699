"""Slack with several providers listed: the /setkey modal has a select of them (from the
operator's list only); the key is checked and sealed at the chosen provider."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bot.keys
from adapters.slack import SlackAdapter
from adapters.slack.views import PROVIDER_BLOCK
from app.services import Services, open_services
from bot.domain import Member
from tests.fakes import openai_server
from tests.fakes.core import make_key, make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.requests import SlackSender

ALICE = Member("slack", TEAM, "UALICE")


@pytest.fixture(autouse=True)
def _learnt_patterns_stay_in_their_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.keys, "_listed_patterns", ())


@pytest.fixture
async def beta() -> AsyncIterator[FakeOpenAI]:
    fake = await FakeOpenAI(models=("llama-3.3-70b",)).start()
    yield fake
    await fake.close()


@pytest.fixture
async def services(
    tmp_path: Path, fake_openai: FakeOpenAI, beta: FakeOpenAI, master_key: str, database_url: str
) -> AsyncIterator[Services]:
    """The modules' `services`, with two providers listed."""
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
    opened = await open_services(settings)
    yield opened
    await opened.close()


async def test_the_setkey_modal_chooses_a_provider_from_the_list(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    beta: FakeOpenAI,
    services: Services,
) -> None:
    await sender.command("/setkey", user="UALICE", response_url=fake_slack.response_url())
    (views_open,) = fake_slack.calls_to("views.open")
    [select] = [b for b in views_open.args["view"]["blocks"] if b["block_id"] == PROVIDER_BLOCK]
    assert [o["value"] for o in select["element"]["options"]] == ["alpha", "beta"]

    b = "sk-or-v1-" + secrets.token_hex(32)
    beta.behaviours[b] = openai_server.VALID
    submitted = await sender.submit_key("UALICE", b, provider="beta")
    await slack.wait_idle()
    assert submitted.json()["response_action"] == "update"
    assert "Beta key" in json.dumps(submitted.json()["view"])
    assert beta.authorizations("/models") == [f"Bearer {b}"] and fake_openai.requests == []
    [stored] = await services.store.member_keys(ALICE)
    assert stored.provider == "beta"

    # An Alpha key with Beta chosen is refused inline and sent nowhere.
    a = make_key()
    fake_openai.behaviours[a] = openai_server.VALID
    refused = await sender.submit_key("UALICE", a, provider="beta")
    await slack.wait_idle()
    assert refused.json()["response_action"] == "errors"
    assert fake_openai.requests == [] and len(beta.requests) == 1
    # A provider not in the list (a forged submission) is refused too.
    forged = await sender.submit_key("UALICE", a, provider="evil")
    await slack.wait_idle()
    assert forged.json()["response_action"] == "errors"
    assert fake_openai.requests == [] and len(beta.requests) == 1

    # `/setkey alpha` opens the modal with Alpha chosen.
    await sender.command("/setkey", "alpha", user="UALICE", response_url=fake_slack.response_url())
    second = fake_slack.calls_to("views.open")[-1]
    [select] = [b for b in second.args["view"]["blocks"] if b["block_id"] == PROVIDER_BLOCK]
    assert select["element"]["initial_option"]["value"] == "alpha"
