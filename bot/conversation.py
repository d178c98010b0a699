"""One chat turn: the asker's own key, trimmed context, streaming, bounded retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import texts
from bot.attachments import IMAGE_TOKEN_ESTIMATE, AttachmentLimits, read_attachments, with_files
from bot.commands import MemberCommands
from bot.domain import HistoryTurn, IncomingMessage, ReplyLost, TurnContext
from bot.keys import redact_keys
from bot.limits import MemberLimits
from bot.masking_sink import KeyMaskingSink
from bot.model_fit import vision_model
from bot.ports import (
    ChatChunk,
    ChatMessage,
    FailureKind,
    Metrics,
    NoMetrics,
    ProviderError,
    ProviderGateway,
    ReplySink,
    Store,
    StoreError,
    TokenUsage,
)
from bot.prompts import DEFAULT_SYSTEM_PROMPT, prompt_here, speaker_line, system_text
from bot.providers import ModelRefusal, Provider
from bot.turns import TurnsInFlight
from bot.usage import UsageLedger
from bot.vault import VaultError

log = logging.getLogger(__name__)

REPLY_LOST_OUTCOME = "reply_lost"
STOPPED_OUTCOME = "stopped"
# Outcomes of turns that never reached the provider (metrics and the turn's log line).
NO_KEY_OUTCOME = "no_key"
KEY_INVALID_OUTCOME = "key_invalid"
UNREADABLE_KEY_OUTCOME = "unreadable_key"
STORE_FAILED_OUTCOME = "store_failed"
REFUSED_OUTCOME = "refused"
ERROR_OUTCOME = "error"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    # A provider asking us to wait longer than this gets a "try again in N s" instead.
    max_rate_limit_wait: float = 20.0
    backoff_base: float = 0.5
    backoff_cap: float = 8.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter, so many members don't retry in step."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not secrecy

    def wait_before_retry(self, attempt: int, retry_after: float | None) -> float | None:
        """How long to wait before the next try: never sooner than the provider asked
        (`retry-after`, `retry-after-ms`), plus jitter; None when that is too long to wait."""
        if retry_after is None:
            return self.backoff(attempt)
        if retry_after > self.max_rate_limit_wait:
            return None
        spread = min(1.0, retry_after / 10)
        return retry_after + random.uniform(0, spread)  # noqa: S311 - jitter, not secrecy


def estimate_tokens(text: str) -> int:
    # Roughly four characters a token for English; a tokenizer would need a download.
    return len(text) // 4 + 4


def build_messages(
    question: str,
    history: Sequence[HistoryTurn],
    *,
    budget: int,
    system: str = DEFAULT_SYSTEM_PROMPT,
    asker: str | None = None,
    images: Sequence[str] = (),
) -> list[ChatMessage]:
    """System prompt, as much recent history as fits the budget, then the question (with
    its images, as data: URLs). With `asker` (a shared conversation), every member's turn
    starts with its writer's name."""

    def said(text: str, author: str) -> str:
        return speaker_line(author, text) if asker is not None else text

    room = budget - estimate_tokens(system) - IMAGE_TOKEN_ESTIMATE * len(images)
    max_chars = max(0, (room - 4) * 4)
    # A long question loses its beginning, never the name of who asked it.
    head = said("", asker or "")
    kept_chars = max(0, max_chars - len(head))
    latest = ChatMessage(
        "user",
        head + redact_keys(question)[-kept_chars:] if kept_chars else head,
        images=tuple(images),
    )
    room -= estimate_tokens(latest.content)
    kept: list[ChatMessage] = []
    for turn in reversed(history):
        content = redact_keys(turn.text)
        if turn.role == "user":
            content = said(content, turn.author)
        cost = estimate_tokens(content)
        if cost > room:
            break
        room -= cost
        kept.append(ChatMessage(turn.role, content))
    return [ChatMessage("system", system), *reversed(kept), latest]


@dataclass(slots=True)
class _TurnWatch:
    """What one turn did, as it goes: its outcome and monotonic times of the provider call."""

    outcome: str = ERROR_OUTCOME
    provider_started: float | None = None
    first_text: float | None = None
    provider_ended: float | None = None
    started: float = field(default_factory=time.monotonic)

    def asked_provider(self) -> None:
        if self.provider_started is None:
            self.provider_started = time.monotonic()

    def showed_text(self) -> None:
        if self.first_text is None:
            self.first_text = time.monotonic()

    def since_provider(self, moment: float | None) -> float | None:
        if self.provider_started is None or moment is None:
            return None
        return moment - self.provider_started


@dataclass(frozen=True, slots=True)
class TurnResult:
    model: str
    usage: TokenUsage | None
    failure: FailureKind | None
    # The platform refused to show the answer, so it was stopped part-way.
    reply_lost: bool = False


class Conversation:
    def __init__(
        self,
        *,
        store: Store,
        commands: MemberCommands,
        max_context_tokens: int,
        max_output_tokens: int,
        limits: MemberLimits,
        ledger: UsageLedger,
        turns: TurnsInFlight,
        streaming: bool = True,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        attachments: AttachmentLimits | None = None,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._commands = commands
        self._max_context_tokens = max_context_tokens
        self._max_output_tokens = max_output_tokens
        self._limits = limits
        self._ledger = ledger
        self._turns = turns
        self._streaming = streaming
        self._system_prompt = system_prompt
        self._attachment_limits = attachments or AttachmentLimits()
        self._retry = retry or RetryPolicy()
        self._metrics: Metrics = metrics or NoMetrics()
        self._sleep = sleep
        self._clock = clock

    @property
    def context_chars(self) -> int:
        """How much text a question may carry with it (files, a transcript): three quarters
        of the context budget, so recent history keeps some room."""
        return self._max_context_tokens * 3

    async def answer(
        self, message: IncomingMessage, sink: ReplySink, *, context: TurnContext
    ) -> TurnResult | None:
        """Answer with the asker's own key; None when no provider call was made, or when
        /forget stopped the turn."""
        if not self._turns.accepting(message.member):
            # The member's data is being deleted right now; their key is going with it.
            await sink.private(self._commands.how_to_set_key())
            return None
        watch = _TurnWatch()
        self._metrics.turn_started()
        try:
            return await self._turns.run(
                message.member, self._answer(message, sink, context=context, watch=watch)
            )
        finally:
            self._finished(message.member.platform, watch)

    def _finished(self, platform: str, watch: _TurnWatch) -> None:
        ended = watch.provider_ended if watch.provider_ended is not None else time.monotonic()
        self._metrics.turn_finished(
            platform=platform,
            outcome=watch.outcome,
            latency=watch.since_provider(watch.provider_ended),
            first_token=watch.since_provider(watch.first_text),
        )
        duration_ms = round((ended - watch.started) * 1000)
        # The fields ride along for LOG_FORMAT=json; no member id, as in the metrics.
        log.info(
            "turn finished: %s %s in %d ms",
            platform,
            watch.outcome,
            duration_ms,
            extra={"platform": platform, "outcome": watch.outcome, "duration_ms": duration_ms},
        )

    async def _answer(
        self,
        message: IncomingMessage,
        sink: ReplySink,
        *,
        context: TurnContext,
        watch: _TurnWatch,
    ) -> TurnResult | None:
        member = message.member
        # Everything read from the database came in the context: one round trip per turn.
        model = self._commands.model_of(context.model, context.config.default_model)
        # The model names its provider; that provider's key, at that provider, only.
        choice = self._commands.resolve(model)
        if isinstance(choice, ModelRefusal):
            watch.outcome = REFUSED_OUTCOME
            await sink.private(texts.model_refused(choice.reason))
            return None
        provider = choice.provider
        stored = context.key_for(provider.id)
        if stored is None:
            watch.outcome = NO_KEY_OUTCOME
            await sink.private(
                texts.how_to_set_key(provider, several=self._commands.providers.several)
            )
            return None
        if stored.status == "invalid":
            watch.outcome = KEY_INVALID_OUTCOME
            await sink.private(texts.provider_failure(FailureKind.UNAUTHORIZED))
            return None
        # Usage rows and the turn's result name the provider that was paid.
        model = self._commands.providers.ledger_name(provider, choice.model)
        try:
            api_key = self._commands.unseal(stored)
            admission = await self._limits.admit(
                member,
                server=message.server,
                member_caps=context.caps,
                workspace_caps=context.config.member_caps,
            )
        except VaultError:
            watch.outcome = UNREADABLE_KEY_OUTCOME
            log.error("stored key for %s cannot be opened", member)
            await sink.private(texts.UNREADABLE_KEY)
            return None
        except StoreError:
            # Nothing was asked of the provider: no key, no caps, no call.
            watch.outcome = STORE_FAILED_OUTCOME
            log.error("turn of %s not started: the database failed", member, exc_info=True)
            await sink.private(texts.STORE_UNAVAILABLE)
            return None
        if isinstance(admission, str):
            watch.outcome = REFUSED_OUTCOME
            await sink.private(admission)
            return None
        try:
            # Speakers are named where several people may write, when the adapter knows
            # the asker's name.
            shared = not message.is_private and bool(message.author_name)
            base = prompt_here(context.config, message.channel, self._system_prompt).text
            system = system_text(
                base, shared=shared, instructions=context.instructions, asker=message.author_name
            )
            # Files fit in what the system prompt and the question leave, so the question
            # itself is never the part cut to make room.
            question, images = await self._with_attachments(
                message, sink, reserved=len(system) + 80
            )
            messages = build_messages(
                question,
                message.history,
                budget=self._max_context_tokens,
                system=system,
                asker=message.author_name if shared else None,
                images=images,
            )

            def record(outcome: str, usage: TokenUsage | None) -> None:
                self._ledger.record(
                    member,
                    server=message.server,
                    model=model,
                    outcome=outcome,
                    prompt_tokens=usage.prompt_tokens if usage else 0,
                    completion_tokens=usage.completion_tokens if usage else 0,
                )

            # A model may repeat a key it saw: every platform shows its output masked.
            masked = KeyMaskingSink(sink)
            await masked.start()
            try:
                usage, failure = await self._stream_with_retries(
                    provider=provider,
                    api_key=api_key,
                    model=choice.model,
                    messages=messages,
                    sink=masked,
                    record=record,
                    watch=watch,
                )
            finally:
                await masked.finish()
        except ReplyLost:
            watch.outcome = REPLY_LOST_OUTCOME
            log.warning("the platform refused the answer for %s; provider call stopped", member)
            await sink.private(texts.REPLY_LOST)
            return TurnResult(model=model, usage=None, failure=None, reply_lost=True)
        finally:
            await admission.release()
        if failure is FailureKind.IMAGES_UNSUPPORTED:
            await sink.private(await self._images_unsupported(provider, api_key, choice.model))
        elif failure is FailureKind.UNAUTHORIZED:
            marked = await self._commands.key_rejected(member, stored.key_id)
            await sink.private(
                texts.provider_failure(failure) if marked else texts.STALE_KEY_REJECTED
            )
        elif failure is None:
            # Written with the next usage batch: the answer is complete, nothing waits on it.
            self._ledger.note_key_used(member, stored.key_id)
        return TurnResult(model=model, usage=usage, failure=failure)

    async def _with_attachments(
        self, message: IncomingMessage, sink: ReplySink, *, reserved: int
    ) -> tuple[str, tuple[str, ...]]:
        """The question with its text files inlined, and its images; the member hears
        privately, in one line, which files were left out and why, and the turn goes on."""
        if not message.attachments:
            return message.text, ()
        attached = await read_attachments(message.attachments, self._attachment_limits)
        # Images take their share of the context first; text files fit in what is left.
        room = max(
            0, self.context_chars - reserved - IMAGE_TOKEN_ESTIMATE * 4 * len(attached.images)
        )
        question, cut = with_files(message.text, attached.files, max_chars=room)
        notes = [*attached.left_out, *(texts.attachment_cut(name) for name in cut)]
        if notes:
            await sink.private(texts.attachments_left_out(notes))
        return question, attached.images

    async def _images_unsupported(self, provider: Provider, api_key: str, model: str) -> str:
        """Name a model of the member's own list, at the same provider, that reads images."""
        try:
            listed = await self._commands.gateway(provider).list_models(api_key)
        except ProviderError:
            listed = []
        models = [model for model in listed if provider.allows_model(model)]
        found = vision_model(models, exclude=model)
        named = self._commands.providers.qualified(provider, found) if found else None
        return texts.images_unsupported(self._commands.providers.qualified(provider, model), named)

    def _chunks(
        self, *, provider: Provider, api_key: str, model: str, messages: list[ChatMessage]
    ) -> AsyncGenerator[ChatChunk, None]:
        gateway = self._commands.gateway(provider)
        if self._streaming and provider.streams:
            return gateway.stream_chat(
                api_key=api_key, model=model, messages=messages, max_tokens=self._max_output_tokens
            )
        return self._whole_answer(gateway, api_key=api_key, model=model, messages=messages)

    async def _whole_answer(
        self, gateway: ProviderGateway, *, api_key: str, model: str, messages: list[ChatMessage]
    ) -> AsyncGenerator[ChatChunk, None]:
        yield await gateway.complete_chat(
            api_key=api_key, model=model, messages=messages, max_tokens=self._max_output_tokens
        )

    async def _stream_with_retries(
        self,
        *,
        provider: Provider,
        api_key: str,
        model: str,
        messages: list[ChatMessage],
        sink: ReplySink,
        record: Callable[[str, TokenUsage | None], None],
        watch: _TurnWatch,
    ) -> tuple[TokenUsage | None, FailureKind | None]:
        watch.asked_provider()
        try:
            usage, failure = await self._attempts(
                provider=provider,
                api_key=api_key,
                model=model,
                messages=messages,
                sink=sink,
                record=record,
                watch=watch,
            )
        except asyncio.CancelledError:
            watch.outcome = STOPPED_OUTCOME
            raise
        finally:
            watch.provider_ended = time.monotonic()
        watch.outcome = "ok" if failure is None else failure.value
        return usage, failure

    async def _attempts(
        self,
        *,
        provider: Provider,
        api_key: str,
        model: str,
        messages: list[ChatMessage],
        sink: ReplySink,
        record: Callable[[str, TokenUsage | None], None],
        watch: _TurnWatch,
    ) -> tuple[TokenUsage | None, FailureKind | None]:
        shown_text = False
        told_retrying = False
        for attempt in range(self._retry.attempts):
            usage: TokenUsage | None = None
            try:
                # aclosing: when the sink gives up, the provider's stream is closed at once
                # rather than whenever the generator is collected.
                async with contextlib.aclosing(
                    self._chunks(provider=provider, api_key=api_key, model=model, messages=messages)
                ) as chunks:
                    async for chunk in chunks:
                        if chunk.usage is not None:
                            usage = chunk.usage
                        if chunk.text:
                            shown_text = True
                            watch.showed_text()
                            await sink.append(chunk.text)
            except ReplyLost:
                # The call was stopped part-way; what it cost is unknown, so no tokens.
                record(REPLY_LOST_OUTCOME, None)
                raise
            except asyncio.CancelledError:
                # The bot is stopping and the answer outlived the grace: the call is recorded
                # (its cost unknown) and what was shown is marked as cut off.
                record(STOPPED_OUTCOME, usage)
                if shown_text:
                    with contextlib.suppress(Exception):
                        await sink.append(texts.CUT_OFF_MARK)
                raise
            except ProviderError as error:
                # A failed call is recorded with its outcome and no tokens.
                record(error.kind.value, None)
                self._metrics.provider_failed(error.kind)
                last_try = attempt == self._retry.attempts - 1
                if shown_text:
                    # Retrying now would bill the member twice for what they already see.
                    await sink.append(texts.CUT_OFF_MARK)
                    await self._tell_failure(sink, error.kind, provider)
                    return usage, error.kind
                if error.kind is FailureKind.RATE_LIMITED:
                    wait = self._retry.wait_before_retry(attempt, error.retry_after)
                    if last_try or wait is None:
                        await sink.private(
                            texts.provider_failure(
                                error.kind, retry_after=error.retry_after, provider=provider
                            )
                        )
                        return None, error.kind
                    if not told_retrying:
                        told_retrying = True
                        await sink.private(texts.RATE_LIMIT_RETRYING)
                    await self._sleep(wait)
                    continue
                if error.kind.transient and not last_try:
                    wait = self._retry.wait_before_retry(attempt, error.retry_after)
                    if wait is not None:
                        await self._sleep(wait)
                        continue
                await self._tell_failure(sink, error.kind, provider)
                return None, error.kind
            else:
                record("ok", usage)
                return usage, None
        raise AssertionError("unreachable: the last attempt always returns")

    @staticmethod
    async def _tell_failure(sink: ReplySink, kind: FailureKind, provider: Provider) -> None:
        # A refused key is told about by answer(), once it knows whether the refused key is
        # still the stored one: a member who has just replaced it must not read "marked invalid".
        # A model that cannot read images is told about by answer() too, naming one that can.
        if kind not in (FailureKind.UNAUTHORIZED, FailureKind.IMAGES_UNSUPPORTED):
            await sink.private(texts.provider_failure(kind, provider=provider))
