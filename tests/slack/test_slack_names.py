"""Speakers' names: a Slack that cannot be reached costs the name, never the answer."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.names import SpeakerNames
from tests.fakes.loopback import free_port


async def test_an_unreachable_slack_gives_the_user_id_and_asks_again_next_time() -> None:
    # Nothing listens on this port: users.info fails in transport, not with a Slack error.
    client = AsyncWebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{free_port()}/api/")
    names = SpeakerNames()
    assert await names.name(client, "T1", "U1") == "U1"
    assert await names.name(client, "T1", "U1") == "U1"
