"""/byok-config: workspace admins and owners (by Slack's users.info) set the workspace settings."""

from __future__ import annotations

from typing import Any

from adapters.slack import SlackAdapter
from adapters.slack import texts as slack_texts
from adapters.slack.config import CONFIG_COMMAND
from app.services import Services
from bot import texts
from bot.admin import BAD_CAP
from bot.domain import Cap, Member, WorkspaceConfig
from tests.fakes.core import make_key, with_key
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import BOT_USER, TEAM
from tests.slack.conftest import AdapterFactory
from tests.slack.requests import CHANNEL, SlackSender, mention

ADMIN = "UADMIN"
ALICE = Member("slack", TEAM, "UALICE")


async def configure(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, text: str, *, user: str = ADMIN
) -> dict[str, Any]:
    """Runs `/byok-config text` and returns the (only new) response it posted."""
    before = len(fake_slack.responses)
    url = fake_slack.response_url(f"config{before}")
    answer = await sender.command(CONFIG_COMMAND, text, user=user, response_url=url)
    assert answer.status == 200
    await slack.wait_idle()
    (reply,) = fake_slack.responses[before:]
    assert reply.args["response_type"] == "ephemeral"
    return reply.args


async def stored(services: Services, workspace: str = TEAM) -> WorkspaceConfig:
    return await services.store.get_workspace_config("slack", workspace)


async def test_a_member_who_is_not_an_admin_is_refused_and_nothing_changes(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    before = await stored(services)
    reply = await configure(slack, sender, fake_slack, "model gpt-4o; daily-cap 1 usd", user="UBOB")
    assert reply["text"] == slack_texts.CONFIG_ADMIN_ONLY
    (info,) = fake_slack.calls_to("users.info")
    assert info.args["user"] == "UBOB"
    assert await stored(services) == before
    # Nor may a non-admin read the settings.
    reply = await configure(slack, sender, fake_slack, "", user="UBOB")
    assert reply["text"] == slack_texts.CONFIG_ADMIN_ONLY


async def test_owners_and_primary_owners_count_as_admins(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.owners.add("UOWNER")
    fake_slack.primary_owners.add("UPRIMARY")
    await configure(slack, sender, fake_slack, "model gpt-4o", user="UOWNER")
    assert (await stored(services)).default_model == "gpt-4o"
    await configure(slack, sender, fake_slack, "model o3", user="UPRIMARY")
    assert (await stored(services)).default_model == "o3"


async def test_when_slack_cannot_say_who_is_admin_nothing_changes(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.admins.add(ADMIN)
    fake_slack.errors["users.info"] = "missing_scope"
    reply = await configure(slack, sender, fake_slack, "model gpt-4o")
    assert reply["text"] == slack_texts.CONFIG_CHECK_FAILED
    assert (await stored(services)).default_model is None


async def test_an_admin_limits_the_channels_and_the_bot_refuses_elsewhere(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.admins.add(ADMIN)
    await with_key(services, fake_openai, ALICE)
    reply = await configure(slack, sender, fake_slack, "channels <#CHELP|help> G0PRIV")
    assert reply["text"].startswith("Saved.") and "<#CHELP>" in reply["text"]
    assert (await stored(services)).allowed_channels == {"CHELP", "G0PRIV"}

    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> hi")
    await sender.event(mention("UALICE", "hi", ts))
    await slack.wait_idle()
    (refusal,) = fake_slack.calls_to("chat.postEphemeral")
    assert refusal.args["text"] == texts.CHANNEL_NOT_ALLOWED
    assert fake_openai.chat_requests() == []

    # In an allowed channel the same member is answered.
    ts = fake_slack.add_member_message("CHELP", "UALICE", "<@UBOT> hi")
    await sender.event({**mention("UALICE", "hi", ts), "channel": "CHELP"})
    await slack.wait_idle()
    assert len(fake_openai.chat_requests()) == 1

    await configure(slack, sender, fake_slack, "channels all")
    assert (await stored(services)).allowed_channels == frozenset()


async def test_model_and_answers_are_saved_and_shown(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.admins.add(ADMIN)
    reply = await configure(slack, sender, fake_slack, "model gpt-4o; answers in-place")
    config = await stored(services)
    assert config.default_model == "gpt-4o" and config.threaded is False
    assert "`gpt-4o`" in reply["text"] and "in place" in reply["text"]

    await configure(slack, sender, fake_slack, "model default; answers thread")
    config = await stored(services)
    assert config.default_model is None and config.threaded is True


async def test_a_workspace_daily_cap_refuses_a_members_next_question_before_the_provider(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.admins.add(ADMIN)
    await with_key(services, fake_openai, ALICE)
    await configure(slack, sender, fake_slack, "daily-cap 5 tokens")
    assert (await stored(services)).member_caps == {"daily": Cap(5, "tokens")}

    for n in (1, 2):
        ts = fake_slack.add_member_message(CHANNEL, "UALICE", f"<@UBOT> question {n}")
        await sender.event(mention("UALICE", f"question {n}", ts))
        await slack.wait_idle()
    assert len(fake_openai.chat_requests()) == 1
    (refusal,) = fake_slack.calls_to("chat.postEphemeral")
    assert refusal.args["user"] == "UALICE"
    assert "your admins' daily cap of 5 tokens" in refusal.args["text"]

    await configure(slack, sender, fake_slack, "daily-cap off; monthly-cap 20 usd")
    assert (await stored(services)).member_caps == {"monthly": Cap(20, "usd")}


async def test_bad_syntax_gets_the_help_and_changes_nothing(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.admins.add(ADMIN)
    await configure(slack, sender, fake_slack, "model gpt-4o")
    before = await stored(services)
    for text, problem in [
        # A good setting before a bad one is not saved either.
        ("answers in-place; daily-cap lots", BAD_CAP),
        ("channels general", texts.CONFIG_BAD_CHANNELS),
        ("channels", texts.CONFIG_BAD_CHANNELS),
        ("model two words", texts.CONFIG_BAD_MODEL),
        ("answers sideways", texts.CONFIG_BAD_ANSWERS),
        ("colour blue", texts.config_unknown_setting("colour")),
        # A key is never taken as a model, nor repeated back.
        (f"model {make_key()}", texts.CONFIG_BAD_MODEL),
        (f"{make_key('sk-')} blue", texts.config_unknown_setting(None)),
    ]:
        reply = await configure(slack, sender, fake_slack, text)
        assert reply["text"] == f"{problem}\n{slack_texts.CONFIG_SYNTAX}", text
    assert await stored(services) == before
    reply = await configure(slack, sender, fake_slack, "help")
    assert reply["text"] == slack_texts.CONFIG_SYNTAX


async def test_without_text_the_settings_are_shown(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.admins.add(ADMIN)
    await services.store.save_workspace_config(
        WorkspaceConfig(
            "slack",
            TEAM,
            allowed_channels=frozenset({"CHELP"}),
            default_model="gpt-4o",
            threaded=False,
            member_caps={"daily": Cap(2, "usd"), "monthly": Cap(50000, "tokens")},
        )
    )
    reply = await configure(slack, sender, fake_slack, "")
    text = reply["text"]
    assert not text.startswith("Saved.")
    assert "<#CHELP>" in text and "`gpt-4o`" in text and "in place" in text
    assert "daily $2.00, monthly 50,000 tokens" in text
    assert BOT_USER not in text


async def test_on_grid_a_workspace_admin_changes_only_their_own_workspace(
    make_adapter: AdapterFactory,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    """Keys belong to the org, settings to the workspace whose admin chose them."""
    fake_slack.enterprise = "E0001"
    slack = await make_adapter()
    url = f"http://127.0.0.1:{slack.port}/slack/events"
    first = SlackSender(url, team=TEAM, enterprise="E0001")
    second = SlackSender(url, team="T0002", enterprise="E0001")
    fake_slack.admins.add(ADMIN)
    reply = await configure(slack, first, fake_slack, "model gpt-4o; channels CHELP")
    assert reply["text"].startswith("Saved.")
    assert (await stored(services, TEAM)).default_model == "gpt-4o"
    assert (await stored(services, "T0002")) == WorkspaceConfig("slack", "T0002")
    assert (await stored(services, "E0001")) == WorkspaceConfig("slack", "E0001")

    # A member of the org asking in the second workspace gets its (default) settings.
    await with_key(services, fake_openai, Member("slack", "E0001", "UALICE"))
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> hi")
    await second.event({**mention("UALICE", "hi", ts), "team": "T0002"})
    await slack.wait_idle()
    (request,) = fake_openai.chat_requests()
    assert request.body is not None and request.body["model"] != "gpt-4o"
    assert fake_slack.calls_to("chat.postEphemeral") == []


async def test_on_an_org_wide_install_only_org_admins_may_configure(
    make_adapter: AdapterFactory, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.enterprise = "E0001"
    slack = await make_adapter()
    sender = SlackSender(
        f"http://127.0.0.1:{slack.port}/slack/events", enterprise="E0001", org_install=True
    )
    # A workspace admin's role cannot say which workspace of the org they administer.
    fake_slack.admins.add(ADMIN)
    reply = await configure(slack, sender, fake_slack, "model gpt-4o")
    assert reply["text"] == slack_texts.CONFIG_ORG_ADMIN_ONLY
    assert (await stored(services, TEAM)).default_model is None

    fake_slack.org_admins.add("UORGADMIN")
    reply = await configure(slack, sender, fake_slack, "model gpt-4o", user="UORGADMIN")
    assert reply["text"].startswith("Saved.")
    assert (await stored(services, TEAM)).default_model == "gpt-4o"
    fake_slack.org_owners.add("UORGOWNER")
    reply = await configure(slack, sender, fake_slack, "answers in-place", user="UORGOWNER")
    assert reply["text"].startswith("Saved.")


async def test_org_admins_may_configure_a_workspace_install_too(
    make_adapter: AdapterFactory, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.enterprise = "E0001"
    slack = await make_adapter()
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events", enterprise="E0001")
    fake_slack.org_admins.add("UORGADMIN")
    reply = await configure(slack, sender, fake_slack, "model gpt-4o", user="UORGADMIN")
    assert reply["text"].startswith("Saved.")
    reply = await configure(slack, sender, fake_slack, "model gpt-4o", user="UBOB")
    assert reply["text"] == slack_texts.CONFIG_ADMIN_ONLY
