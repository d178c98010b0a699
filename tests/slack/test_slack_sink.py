"""The reply sink against the fake Web API, driven directly for the delayed update."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.sink import Pacing, Place, SlackReplySink, StreamSupport
from tests.fakes.slack import FakeSlack
from tests.slack.requests import CHANNEL


async def test_text_held_back_by_the_pace_is_sent_without_waiting_for_more(
    fake_slack: FakeSlack,
) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    for streaming in (True, False):
        fake_slack.streaming = streaming
        sink = SlackReplySink(
            client=client,
            place=Place(
                channel=CHANNEL, user="UALICE", team="T0001", thread_ts="1.0", is_private=False
            ),
            workspace="T0001",
            streams=StreamSupport(),
            pacing=Pacing(min_interval=0.01),
        )
        await sink.start()
        await sink.append("first ")
        await sink.append("second")  # inside the interval: held back, then sent by itself
        method = "chat.appendStream" if streaming else "chat.update"

        def sent(method: str = method) -> bool:
            return bool(fake_slack.calls_to(method))

        await fake_slack.wait_for(sent)
        await sink.finish()
        texts = [m["text"] for m in fake_slack.messages[CHANNEL]]
        assert texts[-1] == "first second"
    assert [m.get("stopped") for m in fake_slack.messages[CHANNEL]] == [True, None]
