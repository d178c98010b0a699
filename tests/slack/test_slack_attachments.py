"""Files shared with a Slack question: `url_private` downloaded with the bot token (the fake
checks it), checked by the core, sent as data URLs or inlined text; every file left out is
named in an ephemeral note and the question is still answered."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack import SlackAdapter
from adapters.slack.files import is_slack_file_host
from app.services import Services
from bot import texts
from bot.domain import Member
from tests.fakes.core import with_key
from tests.fakes.files import JPEG, PNG, data_url
from tests.fakes.openai_server import FakeOpenAI, image_parts, text_of
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.server import TEAM, SlackFile
from tests.slack.requests import CHANNEL, SlackSender, direct_message, mention

ALICE = Member("slack", TEAM, "UALICE")


def last_messages(fake: FakeOpenAI) -> list[dict[str, Any]]:
    body = fake.chat_requests()[-1].body
    assert body is not None
    messages: list[dict[str, Any]] = body["messages"]
    return messages


def ephemerals(fake: FakeSlack, user: str = "UALICE") -> list[str]:
    return [c.args["text"] for c in fake.calls_to("chat.postEphemeral") if c.args["user"] == user]


async def test_an_image_on_a_mention_is_downloaded_with_the_bot_token_and_sent_as_data(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    key = await with_key(services, fake_openai, ALICE)
    photo = fake_slack.share(SlackFile("F1", "cat.png", PNG, "image/png"))
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> what is this")
    await sender.event({**mention("UALICE", "what is this", ts), "files": [photo]})
    await slack.wait_idle()
    assert fake_slack.downloads == [("F1", f"Bearer {fake_slack.bot_token}")]
    assert fake_openai.authorizations("/chat/completions") == [f"Bearer {key}"]
    messages = last_messages(fake_openai)
    assert image_parts(messages) == [data_url("image/png", PNG)]
    assert "files-pri" not in str(messages)
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == "You asked: what is this"


async def test_a_text_file_in_a_dm_is_inlined_with_its_name(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    data = fake_slack.share(SlackFile("F2", "data.csv", b"a,b\n1,2", "text/csv"))
    event = {**direct_message("UALICE", "sum column b", "1700000100.000001"), "files": [data]}
    event["subtype"] = "file_share"
    await sender.event(event)
    await slack.wait_idle()
    question = text_of(last_messages(fake_openai)[-1]["content"])
    assert question == "sum column b\n\nFile `data.csv`:\n```\na,b\n1,2\n```"


async def test_bad_files_are_named_privately_and_the_turn_still_answers(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    limits = services.settings.limits
    gone = fake_slack.share(SlackFile("F3", "gone.png", PNG, "image/png"))
    del fake_slack.files["F3"]  # Slack answers 404: the file was deleted
    big = fake_slack.share(
        SlackFile("F4", "big.png", PNG + b"\0" * limits.max_image_bytes, "image/png")
    )
    lying = fake_slack.share(
        SlackFile("F5", "lying.png", PNG + b"\0" * limits.max_image_bytes, "image/png", size=10)
    )
    corrupt = fake_slack.share(SlackFile("F6", "corrupt.png", b"\x89PNX....", "image/png"))
    jpeg = fake_slack.share(SlackFile("F7", "actually.png", JPEG, "image/png"))
    binary = fake_slack.share(SlackFile("F8", "notes.txt", b"\xff\x00\xfe", "text/plain"))
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> look")
    await sender.event(
        {**mention("UALICE", "look", ts), "files": [gone, big, lying, corrupt, jpeg, binary]}
    )
    await slack.wait_idle()
    # Slack's size for the big file was over the limit: never downloaded.
    assert "F4" not in [file for file, _ in fake_slack.downloads]
    assert image_parts(last_messages(fake_openai)) == [data_url("image/jpeg", JPEG)]
    assert ephemerals(fake_slack) == [
        texts.attachments_left_out(
            [
                texts.attachment_unreadable("gone.png"),
                texts.attachment_too_large("big.png", limits.max_image_bytes),
                texts.attachment_too_large("lying.png", limits.max_image_bytes),
                texts.attachment_not_an_image("corrupt.png"),
                texts.attachment_not_text("notes.txt"),
            ]
        )
    ]
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == "You asked: look"


async def test_a_wrong_token_gets_403_and_a_note(
    make_adapter: Any,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    # The token the app holds is no longer the one Slack accepts for files.
    fake_slack.bot_token = "xoxb-another-token"
    slack = await make_adapter()
    sender = SlackSender(f"http://127.0.0.1:{slack.port}/slack/events")
    await with_key(services, fake_openai, ALICE)
    photo = fake_slack.share(SlackFile("F9", "cat.png", PNG, "image/png"))
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> and this?")
    await sender.event({**mention("UALICE", "and this?", ts), "files": [photo]})
    await slack.wait_idle()
    assert fake_slack.downloads == [("F9", "Bearer xoxb-test-bot-token")]
    assert ephemerals(fake_slack) == [
        texts.attachments_left_out([texts.attachment_unreadable("cat.png")])
    ]
    assert image_parts(last_messages(fake_openai)) == []
    (answer,) = fake_slack.bot_replies(CHANNEL, ts)
    assert answer["text"] == "You asked: and this?"


async def test_ten_images_send_four_and_name_the_rest(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    files = [fake_slack.share(SlackFile(f"G{i}", f"p{i}.png", PNG, "image/png")) for i in range(10)]
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> many")
    await sender.event({**mention("UALICE", "many", ts), "files": files})
    await slack.wait_idle()
    assert len(image_parts(last_messages(fake_openai))) == 4
    assert len(fake_slack.downloads) == 4
    assert ephemerals(fake_slack) == [texts.attachments_left_out([texts.too_many_images(6, 4)])]


async def test_a_file_url_off_slack_never_gets_the_token(
    slack: SlackAdapter,
    sender: SlackSender,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    services: Services,
) -> None:
    await with_key(services, fake_openai, ALICE)
    photo = fake_slack.share(SlackFile("FX", "x.png", PNG, "image/png"))
    photo["url_private"] = photo["url_private_download"] = "https://attacker.example/x.png"
    ts = fake_slack.add_member_message(CHANNEL, "UALICE", "<@UBOT> hm")
    await sender.event({**mention("UALICE", "hm", ts), "files": [photo]})
    await slack.wait_idle()
    assert fake_slack.downloads == []
    assert ephemerals(fake_slack) == [
        texts.attachments_left_out([texts.attachment_unreadable("x.png")])
    ]


@pytest.mark.parametrize(
    ("host", "is_slack"),
    [
        ("files.slack.com", True),
        ("files-origin.slack.com", True),
        ("FILES.SLACK.COM.", True),
        ("slack.com", False),
        ("files.slack.com.attacker.example", False),
        ("evil-files.slack.com.example", False),
        ("api.slack.com", False),
    ],
)
def test_the_token_goes_only_to_slacks_file_hosts(host: str, is_slack: bool) -> None:
    assert is_slack_file_host(host) is is_slack
