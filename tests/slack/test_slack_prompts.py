"""Issue 15 on Slack: who said what in a shared thread (names from users.info, never the
email), prompts at three levels (`/byok-config prompt`, `channel-prompt`, `/instructions`, in
forms or as text), /byok-help saying which applies; every echo notifies nobody."""

from __future__ import annotations

import itertools
from typing import Any

from adapters.slack import SlackAdapter
from adapters.slack import texts as slack_texts
from adapters.slack.config import CONFIG_COMMAND
from adapters.slack.views import INSTRUCTIONS_CALLBACK, PROMPT_CALLBACK, TEXT_ACTION, TEXT_BLOCK
from app.services import Services
from bot import texts
from bot.domain import Member
from bot.prompts import DEFAULT_SYSTEM_PROMPT, MAX_PROMPT_CHARS
from tests.fakes.core import make_key, with_key
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM
from tests.slack.requests import CHANNEL, SlackSender, mention

ADMIN = "UADMIN"
ALICE = Member("slack", TEAM, "UALICE")
BOB = Member("slack", TEAM, "UBOB")
CAROL = Member("slack", TEAM, "UCAROL")
OTHER_CHANNEL = "C0OTHER"
_urls = itertools.count()


def system_of(body: dict[str, Any] | None) -> str:
    assert body is not None and body["messages"][0]["role"] == "system"
    return str(body["messages"][0]["content"])


async def command(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    name: str,
    text: str,
    *,
    user: str,
    channel: str = CHANNEL,
) -> str:
    """Runs a slash command answered through its response_url; returns that answer."""
    before = len(fake_slack.responses)
    url = fake_slack.response_url(f"p{next(_urls)}")
    answer = await sender.command(name, text, user=user, channel=channel, response_url=url)
    assert answer.status == 200
    await slack.wait_idle()
    (reply,) = fake_slack.responses[before:]
    assert reply.args["response_type"] == "ephemeral"
    return str(reply.args["text"])


async def submit_form(
    sender: SlackSender, user: str, callback_id: str, text: str, metadata: str = ""
) -> dict[str, Any]:
    answer = await sender.interaction(
        {
            "type": "view_submission",
            "user": {"id": user, "team_id": TEAM},
            "trigger_id": "trigger-form",
            "view": {
                "id": "V0002",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": metadata,
                "state": {
                    "values": {
                        TEXT_BLOCK: {TEXT_ACTION: {"type": "plain_text_input", "value": text}}
                    }
                },
            },
        }
    )
    assert answer.status == 200
    return answer.json()


async def ask(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    user: str,
    text: str,
    *,
    channel: str = CHANNEL,
) -> str:
    ts = fake_slack.add_member_message(channel, user, f"<@UBOT> {text}")
    await sender.event({**mention(user, text, ts), "channel": channel})
    await slack.wait_idle()
    return system_of(fake_openai.chat_requests()[-1].body)


async def test_a_three_person_thread_names_each_speaker_never_their_email(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.names.update(
        {"UALICE": ("alice", "Alice Liddell"), "UBOB": ("", "Bob Builder"), "UCAROL": ("", "")}
    )
    for who in (ALICE, BOB, CAROL):
        await with_key(services, fake_openai, who)
    root = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> what is a monad?")
    await sender.event(mention("UALICE", "what is a monad?", root))
    await slack.wait_idle()
    for user, text in (("UBOB", "and a functor?"), ("UCAROL", "what did Bob ask?")):
        ts = fake_slack.add_member_message(CHANNEL, user, f"<@UBOT> {text}", thread_ts=root)
        await sender.event(mention(user, text, ts, thread_ts=root))
        await slack.wait_idle()

    body = fake_openai.chat_requests()[-1].body
    assert body is not None
    assert [(m["role"], m["content"]) for m in body["messages"][1:]] == [
        ("user", "[alice]: what is a monad?"),
        ("assistant", "You asked: what is a monad?"),
        ("user", "[Bob Builder]: and a functor?"),
        ("assistant", "You asked: and a functor?"),
        # No display or real name: the user id, never the email users.info also sends.
        ("user", "[UCAROL]: what did Bob ask?"),
    ]
    assert "Several people" in system_of(body)
    assert "example.com" not in str([r.body for r in fake_openai.chat_requests()])
    # Names are cached per process: one users.info per person, not per turn.
    asked = [call.args["user"] for call in fake_slack.calls_to("users.info")]
    assert sorted(asked) == ["UALICE", "UBOB", "UCAROL"]


async def test_when_users_info_fails_the_user_id_names_the_speaker(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.errors["users.info"] = "missing_scope"
    await with_key(services, fake_openai, ALICE)
    await ask(slack, sender, fake_slack, fake_openai, "UALICE", "hello")
    body = fake_openai.chat_requests()[-1].body
    assert body is not None and body["messages"][-1]["content"] == "[UALICE]: hello"
    assert fake_openai.chat_requests()[-1].authorization is not None


async def test_channel_over_workspace_over_operator_and_instructions_only_on_their_turns(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    fake_slack.admins.add(ADMIN)
    for who in (ALICE, BOB):
        await with_key(services, fake_openai, who)

    async def on(user: str, text: str, channel: str = CHANNEL) -> str:
        return await ask(slack, sender, fake_slack, fake_openai, user, text, channel=channel)

    assert (await on("UBOB", "q0")).startswith(DEFAULT_SYSTEM_PROMPT)
    reply = await command(
        slack, sender, fake_slack, CONFIG_COMMAND, "prompt You help; always; politely.", user=ADMIN
    )
    assert reply.startswith("Saved.") and "You help; always; politely." in reply
    reply = await command(
        slack, sender, fake_slack, CONFIG_COMMAND, "answers thread; channel-prompt Only SQL.",
        user=ADMIN,
    )  # fmt: skip
    assert f"Prompt of <#{CHANNEL}>:" in reply and "Only SQL." in reply

    assert (await on("UBOB", "q1")).startswith("Only SQL.")
    assert (await on("UBOB", "q2", OTHER_CHANNEL)).startswith("You help; always; politely.")

    saved = await command(
        slack, sender, fake_slack, "/instructions", "Call me Captain.", user="UALICE"
    )
    assert saved == texts.instructions_saved("Call me Captain.")
    assert "Call me Captain." in await on("UALICE", "q3")
    assert "Call me Captain." not in await on("UBOB", "q4")

    # `/instructions` alone opens a form with what is stored; emptied, it clears them.
    await sender.command("/instructions", "", user="UALICE", response_url=fake_slack.response_url())
    await slack.wait_idle()
    opened = fake_slack.calls_to("views.open")[-1].args["view"]
    assert opened["callback_id"] == INSTRUCTIONS_CALLBACK
    assert opened["blocks"][0]["element"]["initial_value"] == "Call me Captain."
    assert opened["blocks"][0]["element"]["multiline"] is True
    answer = await submit_form(sender, "UALICE", INSTRUCTIONS_CALLBACK, "")
    assert answer["response_action"] == "update"
    assert "Call me Captain." not in await on("UALICE", "q5")

    # The channel prompt's form, submitted empty, clears it; the workspace's applies again.
    await sender.command(
        CONFIG_COMMAND, "channel-prompt", user=ADMIN, response_url=fake_slack.response_url()
    )
    await slack.wait_idle()
    form = fake_slack.calls_to("views.open")[-1].args["view"]
    assert form["callback_id"] == PROMPT_CALLBACK
    assert form["blocks"][0]["element"]["initial_value"] == "Only SQL."
    answer = await submit_form(sender, ADMIN, PROMPT_CALLBACK, "", form["private_metadata"])
    assert answer["response_action"] == "update"
    assert (await on("UBOB", "q6")).startswith("You help; always; politely.")

    # A member who is not an admin can neither open the form (it shows the prompt)...
    opened_before = len(fake_slack.calls_to("views.open"))
    refused_text = await command(slack, sender, fake_slack, CONFIG_COMMAND, "prompt", user="UBOB")
    assert refused_text == slack_texts.CONFIG_ADMIN_ONLY
    assert len(fake_slack.calls_to("views.open")) == opened_before
    # ... nor submit one.
    refused = await submit_form(sender, "UBOB", PROMPT_CALLBACK, "Mine!", form["private_metadata"])
    assert refused["response_action"] == "errors"
    assert (await services.store.get_workspace_config("slack", TEAM)).channel_prompts == {}


async def test_byok_help_says_which_prompt_applies_here(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack
) -> None:
    fake_slack.admins.add(ADMIN)

    async def help_text(channel: str = CHANNEL) -> str:
        return await command(
            slack, sender, fake_slack, "/byok-help", "", user="UBOB", channel=channel
        )

    assert "the bot's default prompt" in await help_text()
    await command(slack, sender, fake_slack, CONFIG_COMMAND, "prompt Be brief.", user=ADMIN)
    assert "this workspace's prompt" in await help_text()
    await command(slack, sender, fake_slack, CONFIG_COMMAND, "channel-prompt SQL.", user=ADMIN)
    assert "this channel's prompt" in await help_text()
    assert "this workspace's prompt" in await help_text(OTHER_CHANNEL)
    assert "you have no instructions" in await help_text()
    await command(slack, sender, fake_slack, "/instructions", "Be terse.", user="UBOB")
    assert "your own instructions are added" in await help_text()


async def test_bad_prompts_get_a_short_private_note_and_change_nothing(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack, services: Services
) -> None:
    fake_slack.admins.add(ADMIN)
    await command(slack, sender, fake_slack, CONFIG_COMMAND, "prompt Good.", user=ADMIN)
    key = make_key()
    for disguised in (key, key[:20] + "\u00ad" + key[20:], key.replace("-", "\u2013", 1)):
        reply = await command(
            slack, sender, fake_slack, CONFIG_COMMAND, f"prompt use {disguised}", user=ADMIN
        )
        assert reply.startswith(texts.PROMPT_IS_A_KEY) and key[8:40] not in reply
        reply = await command(
            slack, sender, fake_slack, "/instructions", f"key: {disguised}", user="UBOB"
        )
        assert reply == texts.PROMPT_IS_A_KEY
    answer = await submit_form(sender, "UBOB", INSTRUCTIONS_CALLBACK, f"my key {key}")
    assert answer == {"response_action": "errors", "errors": {TEXT_BLOCK: texts.PROMPT_IS_A_KEY}}
    too_long = "y" * (MAX_PROMPT_CHARS + 1)
    reply = await command(
        slack, sender, fake_slack, CONFIG_COMMAND, f"channel-prompt {too_long}", user=ADMIN
    )
    assert reply.startswith("That is 4,001 characters") and too_long not in reply
    reply = await command(slack, sender, fake_slack, "/instructions", too_long, user="UBOB")
    assert reply.startswith("That is 4,001 characters")
    config = await services.store.get_workspace_config("slack", TEAM)
    assert config.system_prompt == "Good." and config.channel_prompts == {}
    assert await services.store.get_instructions(BOB) is None
    every_request = " ".join(call.raw for call in [*fake_slack.calls, *fake_slack.responses])
    assert key[8:40] not in every_request


async def test_mentions_in_prompts_are_echoed_inert(
    slack: SlackAdapter, sender: SlackSender, fake_slack: FakeSlack
) -> None:
    fake_slack.admins.add(ADMIN)
    pings = "<!channel> <!here> <!everyone> <@UBOB> <!subteam^S123>"
    reply = await command(slack, sender, fake_slack, "/instructions", f"Greet {pings}", user="UBOB")
    assert "<!" not in reply and "<@" not in reply
    assert "&lt;!channel&gt;" in reply and "&lt;@UBOB&gt;" in reply
    reply = await command(
        slack, sender, fake_slack, CONFIG_COMMAND, f"prompt Hi {pings}", user=ADMIN
    )
    assert "<!" not in reply and "<@" not in reply and "&lt;!here&gt;" in reply
    # The bot's own channel link stays a link.
    reply = await command(slack, sender, fake_slack, CONFIG_COMMAND, "channel-prompt x", user=ADMIN)
    assert f"<#{CHANNEL}>" in reply
