"""The ReplySink of a private question on Slack (/ask, the "Summarize thread" shortcut): the
whole answer in one ephemeral message once complete, or in a DM when it is too long for one;
nothing is posted in the channel."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import neutralise, split_point
from bot.domain import ReplyLost

log = logging.getLogger(__name__)


class EphemeralReplySink:
    def __init__(
        self,
        *,
        client: AsyncWebClient,
        channel: str,
        user: str,
        thread_ts: str | None,
        message_limit: int,
    ) -> None:
        self._client = client
        self._channel = channel
        self._user = user
        self._thread_ts = thread_ts
        self._limit = message_limit
        self._text = ""

    async def start(self) -> None:
        return None

    async def append(self, text: str) -> None:
        self._text += neutralise(text)

    async def finish(self) -> None:
        text = self._text.strip()
        if not text:
            return
        self._text = ""
        if len(text) <= self._limit and await self._ephemeral(text):
            return
        try:
            await self._direct_message(text)
        except SlackApiError as error:
            log.warning("Slack refused the private answer: %s", error.response.get("error"))
            raise ReplyLost from None

    async def private(self, text: str) -> None:
        if await self._ephemeral(text):
            return
        try:
            await self._direct_message(text)
        except SlackApiError as error:
            log.warning("could not reach %s privately: %s", self._user, error.response.get("error"))

    async def delete_original(self) -> bool:
        # The question went to the app alone (a slash command, a shortcut): nothing is on show.
        return True

    async def _ephemeral(self, text: str) -> bool:
        try:
            await self._client.chat_postEphemeral(
                channel=self._channel, user=self._user, text=text, thread_ts=self._thread_ts
            )
        except SlackApiError as error:
            # e.g. the bot is not in that channel: the member gets a DM instead.
            log.info("no ephemeral message in %s: %s", self._channel, error.response.get("error"))
            return False
        return True

    async def _direct_message(self, text: str) -> None:
        opened = await self._client.conversations_open(users=self._user)
        channel = str((opened.get("channel") or {})["id"])
        while text:
            cut = split_point(text, self._limit) if len(text) > self._limit else len(text)
            piece, text = text[:cut].strip(), text[cut:]
            if piece:
                await self._client.chat_postMessage(channel=channel, text=piece)
