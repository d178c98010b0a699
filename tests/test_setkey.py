"""setkey, removekey, mykey, model and forget against the fake provider."""

from __future__ import annotations

import pytest

from app.services import Services
from bot import texts
from bot.domain import Severity
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, make_key, member, with_key
from tests.fakes.openai_server import FakeOpenAI

ALICE = member("alice")


async def test_valid_key_is_validated_for_free_sealed_and_shown_masked(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    reply = await services.commands.set_key(ALICE, f"  {key}  ")
    assert reply.ok
    assert f"{key[:7]}...{key[-4:]}" in reply.text
    assert key not in reply.text
    # Three chat models; the embedding and whisper models are not counted.
    assert "3 models" in reply.text
    # Validation is a GET /models with that key: nothing that costs money.
    assert [(r.method, r.path) for r in fake_openai.requests] == [("GET", "/v1/models")]
    assert fake_openai.authorizations() == [f"Bearer {key}"]
    stored = await services.store.get_key(ALICE)
    assert stored is not None and key.encode() not in stored.sealed
    assert services.vault.open(ALICE, stored.sealed) == key


async def test_rejected_key_is_refused_and_nothing_stored(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.UNAUTHORIZED
    reply = await services.commands.set_key(ALICE, key)
    assert reply.severity is Severity.REFUSED
    assert reply.text == texts.KEY_REJECTED
    assert await services.store.get_key(ALICE) is None


async def test_rejected_key_does_not_replace_a_working_one(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    good = await with_key(services, fake_openai, ALICE)
    bad = make_key()
    assert not (await services.commands.set_key(ALICE, bad)).ok
    stored = await services.store.get_key(ALICE)
    assert stored is not None and services.vault.open(ALICE, stored.sealed) == good


async def test_unreachable_provider_stores_nothing_and_says_so(services: Services) -> None:
    await services.gateways["openai"].close()
    from bot.openai_gateway import OpenAIGateway

    dead = OpenAIGateway(base_url="http://127.0.0.1:9/v1", timeout=2)
    services.commands._gateways["openai"] = dead
    try:
        reply = await services.commands.set_key(ALICE, make_key())
    finally:
        await dead.close()
    assert reply.severity is Severity.ERROR
    assert reply.text == texts.KEY_UNREACHABLE
    assert await services.store.get_key(ALICE) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("sk-proj-abc def", "no spaces"),
        ("sk-" + "x" * 513, "longer than any API key"),
        ("sk-admin-" + "x" * 60, "admin key"),
        ("sk-proj-é" + "x" * 40, "doesn't look like an API key"),
        ("sk-proj-\x00" + "x" * 40, "doesn't look like an API key"),
        ("\ufffd\ufffd", "doesn't look like an API key"),
    ],
)
async def test_every_bad_setkey_input_gets_its_reason_and_no_provider_call(
    services: Services, fake_openai: FakeOpenAI, raw: str, expected: str
) -> None:
    reply = await services.commands.set_key(ALICE, raw)
    assert reply.severity is Severity.REFUSED
    assert expected in reply.text
    assert fake_openai.requests == []
    assert await services.store.get_key(ALICE) is None


async def test_mykey_shows_only_the_masked_key(services: Services, fake_openai: FakeOpenAI) -> None:
    assert (await services.commands.my_key(ALICE)).text == texts.HOW_TO_SET_KEY
    key = await with_key(services, fake_openai, ALICE)
    text = (await services.commands.run(ALICE, "mykey")).text
    assert f"{key[:7]}...{key[-4:]}" in text
    assert key not in text
    for label in ("Set:", "Last checked:", "Last used: never", "Model: `gpt-5-mini`"):
        assert label in text


async def test_model_lists_and_chooses_from_what_the_key_can_use(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    assert (await services.commands.choose_model(ALICE, None)).text == texts.HOW_TO_SET_KEY
    key = await with_key(services, fake_openai, ALICE)
    listing = (await services.commands.run(ALICE, "model")).text
    assert "`gpt-4o`" in listing and "whisper" not in listing
    refused = await services.commands.run(ALICE, "model", "gpt-9-imaginary")
    assert refused.severity is Severity.REFUSED
    assert (await services.commands.run(ALICE, "model", "gpt-4o")).ok
    assert await services.store.get_model(ALICE) == "gpt-4o"

    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "hi"), sink)
    assert fake_openai.chat_requests()[-1].body["model"] == "gpt-4o"  # type: ignore[index]
    assert fake_openai.chat_requests()[-1].authorization == f"Bearer {key}"


async def test_removekey_and_forget(services: Services, fake_openai: FakeOpenAI) -> None:
    await with_key(services, fake_openai, ALICE)
    assert (await services.commands.run(ALICE, "removekey")).text == texts.KEY_REMOVED
    assert await services.store.get_key(ALICE) is None
    assert (await services.commands.run(ALICE, "removekey")).text == texts.NO_KEY_TO_REMOVE

    await with_key(services, fake_openai, ALICE)
    await services.commands.run(ALICE, "model", "gpt-4o")
    assert (await services.commands.run(ALICE, "forget")).text == texts.FORGOTTEN
    assert await services.store.get_key(ALICE) is None
    assert await services.store.get_model(ALICE) is None


async def test_help_names_every_command(services: Services) -> None:
    text = (await services.commands.run(ALICE, "help")).text
    for name in ("/setkey", "/mykey", "/model", "/removekey", "/forget"):
        assert name in text


@pytest.mark.parametrize("template", ["{key}", "setkey {key}", "/setkey {key}", "here: {key} ok"])
async def test_a_key_in_a_dm_is_taken_as_setkey(
    services: Services, fake_openai: FakeOpenAI, template: str
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    sink = RecordingSink()
    turn = await services.core.handle_message(
        ask(ALICE, template.format(key=key), private=True), sink
    )
    assert turn is None
    assert await services.store.get_key(ALICE) is not None
    assert fake_openai.chat_requests() == []
    assert sink.appended == [] and len(sink.privates) == 1
    assert key not in sink.privates[0]


async def test_setkey_in_a_dm_without_a_key_explains(services: Services) -> None:
    sink = RecordingSink()
    await services.core.handle_message(ask(ALICE, "setkey", private=True), sink)
    assert sink.privates == [texts.HOW_TO_SET_KEY]


async def test_available_models_for_autocomplete(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    assert await services.commands.available_models(ALICE) == []
    key = await with_key(services, fake_openai, ALICE)
    assert "gpt-4o" in await services.commands.available_models(ALICE)
    assert "whisper-1" not in await services.commands.available_models(ALICE)
    fake_openai.behaviours[key] = openai_server.UNAUTHORIZED
    assert await services.commands.available_models(ALICE) == []
