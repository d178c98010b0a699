"""Signed HTTP requests, the /setkey modal, App Home and the key commands."""

from __future__ import annotations

import json
import logging
import random
import time

import pytest

from adapters.slack import SlackAdapter
from adapters.slack import texts as slack_texts
from adapters.slack.views import HOME_REMOVE_ACTION, HOME_SET_ACTION, KEY_BLOCK, SETKEY_CALLBACK
from app.services import Services
from bot import texts
from bot.domain import Member
from tests.fakes import openai_server
from tests.fakes.core import make_key
from tests.fakes.keys import disguised_examples, visible_runs_of
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.conftest import AdapterFactory
from tests.slack.requests import SlackSender, mention, sign

ALICE = Member("slack", TEAM, "UALICE")


async def test_forged_signature_and_stale_timestamp_are_refused(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    body = json.dumps(sender.event_body(mention("UALICE", "hi", "1700000001.000001")))
    forged = await sender.post(body, "application/json", signature="v0=" + "0" * 64)
    old = int(time.time()) - 6 * 60
    stale = await sender.post(body, "application/json", timestamp=old, signature=sign(body, old))
    wrong_secret = await sender.post(
        body, "application/json", signature=sign(body, int(time.time()), "other-secret")
    )
    await slack.wait_idle()
    assert (forged.status, stale.status, wrong_secret.status) == (401, 401, 401)
    # Nothing handled: no Web API call but the start-up auth.test, no provider call.
    assert fake_slack.methods() == []
    assert fake_openai.requests == []
    # The same body, signed correctly, is accepted.
    assert (await sender.post(body, "application/json")).status == 200
    await slack.wait_idle()
    assert "chat.postEphemeral" in fake_slack.methods()


async def test_setkey_modal_seals_the_key_and_never_sends_it(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    opened = await sender.command("/setkey", user="UALICE", response_url=fake_slack.response_url())
    assert opened.status == 200
    (views_open,) = fake_slack.calls_to("views.open")
    assert views_open.args["view"]["callback_id"] == SETKEY_CALLBACK
    assert views_open.args["trigger_id"].startswith("trigger-")

    submitted = await sender.submit_key("UALICE", f"  {key}\n")
    await slack.wait_idle()
    assert submitted.status == 200
    answer = submitted.json()
    assert answer["response_action"] == "update"
    assert "is saved and sealed" in json.dumps(answer["view"])
    assert key not in submitted.text

    stored = await services.store.get_key(ALICE)
    assert stored is not None and key.encode() not in stored.sealed
    assert services.vault.open(ALICE, stored.sealed) == key
    assert fake_openai.authorizations("/models") == [f"Bearer {key}"]
    # The App Home was republished with the masked key.
    (home,) = fake_slack.calls_to("views.publish")
    assert home.args["user_id"] == "UALICE" and stored.masked in json.dumps(home.args["view"])
    # Not one request to Slack carried the key.
    assert key not in fake_slack.everything_received()
    assert key[8:40] not in fake_slack.everything_received()


async def test_rejected_key_is_shown_inline_and_not_stored(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = make_key()  # unknown to the fake provider: 401
    submitted = await sender.submit_key("UALICE", key)
    assert submitted.status == 200
    assert submitted.json() == {
        "response_action": "errors",
        "errors": {KEY_BLOCK: texts.KEY_REJECTED},
    }
    assert await services.store.get_key(ALICE) is None
    assert key not in fake_slack.everything_received()


async def test_slow_provider_answers_the_modal_later(
    make_adapter: AdapterFactory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    slack = await make_adapter(ack_budget=0.0)
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    submitted = await sender.submit_key("UALICE", key)
    await slack.wait_idle()
    assert submitted.json()["response_action"] == "update"
    assert "Checking your key" in json.dumps(submitted.json()["view"])
    (update,) = fake_slack.calls_to("views.update")
    assert update.args["view_id"] == "V0001"
    assert "is saved and sealed" in json.dumps(update.args["view"])
    assert key not in fake_slack.everything_received()


async def test_model_with_a_key_as_its_name_does_not_repeat_it(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    assert (await services.commands.set_key(ALICE, key)).ok
    typed = [make_key(), disguised_examples(random.Random(14))["soft hyphen"][1]]
    for n, text in enumerate(typed):
        url = fake_slack.response_url(f"model{n}")
        assert (await sender.command("/model", text, user="UALICE", response_url=url)).status == 200
    await slack.wait_idle()
    assert [r.args["text"] for r in fake_slack.responses] == [texts.MODEL_IS_A_KEY] * 2
    received = fake_slack.everything_received()
    assert visible_runs_of(typed[0], received) == []
    assert visible_runs_of(disguised_examples(random.Random(14))["soft hyphen"][0], received) == []
    assert await services.store.get_model(ALICE) is None


async def test_key_commands_answer_ephemerally(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    assert (await services.commands.set_key(ALICE, key)).ok
    url = fake_slack.response_url
    for command, text in [
        ("/mykey", ""),
        ("/model", "gpt-4o"),
        ("/usage", ""),
        ("/limit", "daily 2 usd"),
        ("/byok-help", ""),
        ("/removekey", ""),
        ("/forget", ""),
    ]:
        name = command.strip("/")
        assert (
            await sender.command(command, text, user="UALICE", response_url=url(name))
        ).status == 200
    await slack.wait_idle()
    replies = {r.method: r.args for r in fake_slack.responses}
    assert all(reply["response_type"] == "ephemeral" for reply in replies.values())
    assert "(working)" in replies["mykey"]["text"]
    assert replies["model"]["text"] == texts.model_chosen("gpt-4o")
    assert "/byok-help" in replies["byok-help"]["text"]
    assert replies["removekey"]["text"] == texts.KEY_REMOVED
    assert replies["forget"]["text"] == texts.FORGOTTEN
    assert await services.store.get_key(ALICE) is None
    assert key not in fake_slack.everything_received()


async def test_app_home_shows_the_key_and_its_buttons_work(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    home_opened = {"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"}
    await sender.event(home_opened)
    await slack.wait_idle()
    empty = json.dumps(fake_slack.calls_to("views.publish")[-1].args["view"])
    assert HOME_SET_ACTION in empty and HOME_REMOVE_ACTION not in empty

    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    assert (await services.commands.set_key(ALICE, key)).ok
    await sender.event(home_opened)
    await slack.wait_idle()
    shown = json.dumps(fake_slack.calls_to("views.publish")[-1].args["view"])
    stored = await services.store.get_key(ALICE)
    assert stored is not None
    assert stored.masked in shown and "gpt-5-mini" in shown and "Last used" in shown
    assert HOME_REMOVE_ACTION in shown

    def click(action: str) -> dict[str, object]:
        return {
            "type": "block_actions",
            "user": {"id": "UALICE", "team_id": TEAM},
            "trigger_id": "trigger-home",
            "container": {"type": "view", "view_id": "V0002"},
            "view": {"id": "V0002", "type": "home"},
            "actions": [{"action_id": action, "block_id": "b", "type": "button"}],
        }

    assert (await sender.interaction(click(HOME_SET_ACTION))).status == 200
    assert fake_slack.calls_to("views.open")[-1].args["trigger_id"] == "trigger-home"
    assert (await sender.interaction(click(HOME_REMOVE_ACTION))).status == 200
    await slack.wait_idle()
    assert await services.store.get_key(ALICE) is None
    republished = json.dumps(fake_slack.calls_to("views.publish")[-1].args["view"])
    assert HOME_REMOVE_ACTION not in republished
    assert key not in fake_slack.everything_received()


async def test_setkey_with_the_key_as_text_saves_it_and_answers_ephemerally(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    url = fake_slack.response_url("setkey")
    assert (await sender.command("/setkey", key, user="UALICE", response_url=url)).status == 200
    await slack.wait_idle()
    (reply,) = fake_slack.responses
    assert reply.args["response_type"] == "ephemeral"
    assert "is saved and sealed" in reply.args["text"]
    assert await services.store.get_key(ALICE) is not None
    assert fake_slack.calls_to("views.open") == []
    assert key not in fake_slack.everything_received()


async def test_url_verification_answers_the_challenge_only_when_signed(
    slack: SlackAdapter, sender: SlackSender
) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
    answer = await sender.post(body, "application/json")
    assert answer.status == 200 and "c-123" in answer.text
    forged = await sender.post(body, "application/json", signature="v0=" + "1" * 64)
    assert forged.status == 401 and "c-123" not in forged.text


async def test_a_failing_key_check_is_logged_with_its_traceback_and_shown_inline(
    slack: SlackAdapter,
    sender: SlackSender,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(member: Member, raw: str, *, provider: str | None = None) -> None:
        raise RuntimeError("the database went away")

    # Fault injection in our own core; Slack, bolt and the HTTP path stay real.
    monkeypatch.setattr(services.core.commands, "set_key", broken)
    key = make_key()
    with caplog.at_level(logging.ERROR):
        submitted = await sender.submit_key("UALICE", key)
    assert submitted.json() == {
        "response_action": "errors",
        "errors": {KEY_BLOCK: slack_texts.COMMAND_FAILED},
    }
    (record,) = [r for r in caplog.records if "/setkey check failed" in r.getMessage()]
    assert record.exc_info is not None and "the database went away" in str(record.exc_info[1])
    assert key not in caplog.text
