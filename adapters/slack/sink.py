"""The ReplySink for Slack: a streamed (or, failing that, updated) reply, and ephemerals."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.render import MESSAGE_LIMIT, neutralise, split_point
from bot.domain import ReplyLost

log = logging.getLogger(__name__)

# Errors that mean the workspace cannot stream at all; anything else (a deleted thread, a
# channel the bot left, a passing fault) concerns one answer and is not remembered.
_NO_STREAMING_HERE = frozenset(
    {"unknown_method", "not_allowed_token_type", "method_deprecated", "feature_not_enabled"}
)


class StreamSupport:
    """Workspaces whose Slack refused `chat.startStream`: they get `chat.update` from then on;
    and those where the app is no AI assistant (`assistant.threads.setStatus` refused): they
    get the "Thinking…" placeholder without asking again."""

    def __init__(self) -> None:
        self._refused: set[str] = set()
        self._no_status: set[str] = set()

    def status_allowed(self, workspace: str) -> bool:
        return workspace not in self._no_status

    def status_refused(self, workspace: str) -> None:
        self._no_status.add(workspace)

    def allowed(self, workspace: str) -> bool:
        return workspace not in self._refused

    def refused(self, workspace: str, error: str) -> None:
        if error in _NO_STREAMING_HERE:
            self._refused.add(workspace)


@dataclass(frozen=True, slots=True)
class Place:
    """Where an answer goes and who asked."""

    channel: str
    user: str
    # The asker's own team, which `chat.startStream` wants as the recipient.
    team: str
    # The answer's thread; None answers directly in the channel or DM.
    thread_ts: str | None
    is_private: bool

    @property
    def assistant_thread(self) -> bool:
        """A thread in a DM: where an app that is an AI assistant talks (bolt's own test for
        a member's message in an assistant thread)."""
        return self.is_private and self.thread_ts is not None


@dataclass(slots=True)
class _Message:
    ts: str
    text: str
    # slack_sdk's chat_stream helper while the message is streaming; None once it is not.
    stream: AsyncChatStream | None
    # A streamed message keeps its content in markdown blocks, which an update must replace.
    started_as_stream: bool = False

    @property
    def streaming(self) -> bool:
        return self.stream is not None


@dataclass(frozen=True, slots=True)
class Pacing:
    """How often a reply may change, and how long one message may grow."""

    min_interval: float = 1.0
    message_limit: int = MESSAGE_LIMIT


class SlackReplySink:
    def __init__(
        self,
        *,
        client: AsyncWebClient,
        place: Place,
        workspace: str,
        streams: StreamSupport,
        pacing: Pacing,
    ) -> None:
        self._client = client
        self._place = place
        self._workspace = workspace
        self._streams = streams
        self._pacing = pacing
        # Slack streams only into a thread.
        self._streaming = place.thread_ts is not None and streams.allowed(workspace)
        self._pending = ""
        self._message: _Message | None = None
        self._lock = asyncio.Lock()
        self._last_flush = float("-inf")
        self._timer: asyncio.Task[None] | None = None
        # Set once a delayed flush has begun writing; until then it may be cancelled.
        self._timer_flushing = False
        # Set when Slack refused the answer for good; the core hears it once, as ReplyLost.
        self._lost = False
        # The "thinking…" message shown until the first words replace it.
        self._placeholder: str | None = None
        self._status_set = False

    async def start(self) -> None:
        """Show that the bot is thinking until the first words: the assistant thread's status
        where Slack has one, else a short placeholder message the answer replaces."""
        place = self._place
        if (
            place.assistant_thread
            and place.thread_ts is not None
            and self._streams.status_allowed(self._workspace)
        ):
            try:
                await self._client.assistant_threads_setStatus(
                    channel_id=place.channel,
                    thread_ts=place.thread_ts,
                    status=texts.THINKING_STATUS,
                )
                self._status_set = True
                return
            except SlackApiError as error:
                # The app is no AI assistant here: a placeholder, now and from now on.
                log.info("no assistant status here: %s", error.response.get("error"))
                self._streams.status_refused(self._workspace)
        try:
            response = await self._client.chat_postMessage(
                channel=place.channel, thread_ts=place.thread_ts, text=texts.THINKING
            )
            self._placeholder = str(response["ts"])
        except SlackApiError as error:
            log.warning("cannot show that I am thinking: %s", error.response.get("error"))

    async def append(self, text: str) -> None:
        if self._lost:
            raise ReplyLost
        if not text:
            return
        self._pending += neutralise(text)
        wait = self._last_flush + self._pacing.min_interval - asyncio.get_running_loop().time()
        if wait <= 0:
            await self._flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_later(wait), name="slack-reply-flush")

    async def finish(self) -> None:
        timer = self._timer
        if timer is not None:
            if not self._timer_flushing:
                timer.cancel()
            (outcome,) = await asyncio.gather(timer, return_exceptions=True)
            if isinstance(outcome, Exception) and not isinstance(outcome, ReplyLost):
                log.error("a delayed reply update failed", exc_info=outcome)
        if self._lost:
            raise ReplyLost
        await self._flush()
        async with self._lock:
            await self._close_message()
            await self._clear_thinking()

    async def private(self, text: str) -> None:
        place = self._place
        try:
            if place.is_private:
                await self._client.chat_postMessage(
                    channel=place.channel, text=text, thread_ts=place.thread_ts
                )
                return
            await self._client.chat_postEphemeral(
                channel=place.channel, user=place.user, text=text, thread_ts=place.thread_ts
            )
        except SlackApiError as error:
            # A private note lost is logged, not raised: the answer itself may still go out.
            log.warning(
                "could not reach %s privately in %s: %s",
                place.user,
                place.channel,
                error.response.get("error"),
            )

    async def delete_original(self) -> bool:
        # A bot token can delete only the bot's own messages, never a member's.
        return False

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._timer_flushing = True
        try:
            await self._flush()
        finally:
            self._timer_flushing = False

    async def _flush(self) -> None:
        async with self._lock:
            try:
                await self._write_pending()
            except SlackApiError as error:
                # Slack's own retries (rate limits, connections) are spent: the answer is lost.
                log.warning("Slack refused the answer: %s", error.response.get("error"))
                self._lost = True
                raise ReplyLost from None

    async def _write_pending(self) -> None:
        """Write what is pending, opening new messages when one is full; the lock is held."""
        text = self._pending
        if not text or (self._message is None and not text.strip()):
            return  # Slack refuses a blank message; wait for words
        self._pending = ""
        self._last_flush = asyncio.get_running_loop().time()
        limit = self._pacing.message_limit
        while text:
            if self._message is None:
                text = text.lstrip()
                if not text:
                    break
            room = limit - (len(self._message.text) if self._message else 0)
            if len(text) <= room:
                await self._write(text)
                break
            cut = split_point(text, room) if room > 0 else 0
            if self._message is not None and not text[:cut][-1:].isspace():
                cut = 0  # no word boundary here: start the next message with all of it
            head, text = text[:cut], text[cut:]
            if head.strip():
                await self._write(head)
            await self._close_message()

    async def _write(self, text: str) -> None:
        place = self._place
        message = self._message
        if message is None:
            self._message = await self._open_message(text)
            return
        if message.stream is not None:
            try:
                await message.stream.append(markdown_text=text)
                message.text += text
                return
            except SlackApiError as error:
                # A stream can expire server-side; the message it left is edited instead.
                log.warning("chat.appendStream failed (%s); updating", error.response.get("error"))
                message.stream = None
        message.text += text
        if message.started_as_stream:
            await self._client.chat_update(
                channel=place.channel, ts=message.ts, markdown_text=message.text
            )
        else:
            await self._client.chat_update(channel=place.channel, ts=message.ts, text=message.text)

    async def _open_message(self, text: str) -> _Message:
        place = self._place
        if self._streaming and place.thread_ts is not None:
            # slack_sdk's own helper; its buffer is 1 character because the pacing above
            # already gathers text for a second at a time.
            stream = await self._client.chat_stream(
                channel=place.channel,
                thread_ts=place.thread_ts,
                recipient_team_id=place.team or None,
                recipient_user_id=place.user,
                buffer_size=1,
            )
            try:
                await stream.append(markdown_text=text)
            except SlackApiError as error:
                code = str(error.response.get("error"))
                log.info("chat.startStream refused (%s); answering with chat.update", code)
                self._streams.refused(self._workspace, code)
                self._streaming = False
            else:
                await self._clear_thinking()
                assert stream.ts is not None
                return _Message(ts=stream.ts, text=text, stream=stream, started_as_stream=True)
        placeholder, self._placeholder = self._placeholder, None
        if placeholder is not None:
            # The answer's first words take the place of "thinking…".
            await self._client.chat_update(channel=place.channel, ts=placeholder, text=text)
            return _Message(ts=placeholder, text=text, stream=None)
        response = await self._client.chat_postMessage(
            channel=place.channel, thread_ts=place.thread_ts, text=text
        )
        return _Message(ts=str(response["ts"]), text=text, stream=None)

    async def _clear_thinking(self) -> None:
        """Take "thinking…" away when no answer replaced it (the answer streams in a message of
        its own, or the turn failed and was told privately)."""
        placeholder, self._placeholder = self._placeholder, None
        try:
            if placeholder is not None:
                await self._client.chat_delete(channel=self._place.channel, ts=placeholder)
            elif self._status_set and self._message is None and self._place.thread_ts:
                self._status_set = False
                await self._client.assistant_threads_setStatus(
                    channel_id=self._place.channel, thread_ts=self._place.thread_ts, status=""
                )
        except SlackApiError as error:
            log.warning("cannot clear the thinking state: %s", error.response.get("error"))

    async def _close_message(self) -> None:
        message, self._message = self._message, None
        if message is None or message.stream is None:
            return
        try:
            await message.stream.stop()
        except SlackApiError as error:
            log.warning("chat.stopStream failed: %s", error.response.get("error"))
