"""The LLM gateway: one per listed provider, each with one shared connection pool and the
member's key on each request."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, cast

import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from bot.ports import ChatChunk, ChatMessage, FailureKind, ProviderError, TokenUsage

log = logging.getLogger(__name__)

# A placeholder so the SDK never falls back to an OPENAI_API_KEY in the operator's
# environment; every real request carries the asking member's own key.
_NO_SHARED_KEY = "byok-no-shared-key"


# Chunks as the JSON objects they arrive as. The SDK hands `object` chunks over as parsed,
# so it still decodes the events, raises a mid-stream `error` and closes the response, but
# builds no typed model per chunk: that model building (with the parameter transformer
# `post` also skips) was about 40% of the bare SDK's CPU per streamed answer (bench/README.md),
# and a turn reads three fields of a chunk.
_JSON_CHUNKS = openai.AsyncStream[object]
# What `chat.completions.create` asks of the client for every request: the bearer key.
_BEARER: openai.RequestOptions = {"security": {"bearer_auth": True}}

# Longer than any wait worth telling a member about; also keeps `inf` out of the arithmetic.
MAX_RETRY_AFTER = 3600.0
_RESET_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _parse_reset(value: str) -> float | None:
    """OpenAI's x-ratelimit-reset-* values look like `1s`, `6m0s` or `20ms`."""
    parts = _RESET_PART.findall(value)
    if not parts:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """Plain text, or text and image parts when images come with it."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in message.images]
    return parts


def _refuses_images(exc: openai.APIStatusError) -> bool:
    """A 400 saying the model does not take image input ("image_url is only supported by
    certain models", "this model does not support image inputs"); not one about the image
    itself ("You uploaded an unsupported image"), which another model would refuse too."""
    error = exc.body if isinstance(exc.body, dict) else {}
    error = error.get("error", error) if isinstance(error.get("error"), dict) else error
    message = str(error.get("message") or "").lower()
    return "image" in message and "model" in message


_NO_TEXTS: tuple[str, ...] = ()


def _read_chunk(data: object) -> tuple[TokenUsage | None, Sequence[str], bool]:
    """A streamed chunk's usage, its choices' new text and whether a choice finished. A chunk
    of any other shape is the provider's fault: ValueError, read as a cut answer. Usage that
    cannot be read is left out (logged), so an answer already shown whole is not called cut
    for its bookkeeping."""
    if not isinstance(data, dict):
        raise ValueError("a chunk that is not a JSON object")
    if data.get("error") is not None or ("choices" not in data and "usage" not in data):
        # An error the SDK did not raise (one not under "error", or an `event: error`
        # without it), or something else that is no chunk at all.
        raise ValueError("a chunk that is an error or no chunk at all")
    usage = _read_usage(data.get("usage"))
    choices = data.get("choices")
    if not choices:
        return usage, _NO_TEXTS, False
    if not isinstance(choices, list):
        raise ValueError("a chunk whose choices are not a list")
    texts: list[str] = []
    finished = False
    for choice in choices:
        if not isinstance(choice, dict):
            raise ValueError("a chunk with a choice that is not an object")
        delta = choice.get("delta")
        if delta is None:
            content = None
        elif isinstance(delta, dict):
            content = delta.get("content")
        else:
            raise ValueError("a chunk whose delta is not an object")
        if isinstance(content, str):
            if content:
                texts.append(content)
        elif content is not None:
            raise ValueError("a chunk whose content is not text")
        finished = finished or choice.get("finish_reason") is not None
    return usage, texts, finished


def _read_usage(counts: object) -> TokenUsage | None:
    if counts is None:
        return None
    if isinstance(counts, dict):
        prompt = _count(counts.get("prompt_tokens"))
        completion = _count(counts.get("completion_tokens"))
        if prompt is not None and completion is not None:
            return TokenUsage(prompt_tokens=prompt, completion_tokens=completion)
    log.warning("the provider's usage could not be read; the turn is recorded without it")
    return None


def _count(value: object) -> int | None:
    """A token count: a whole number, which some providers write as `12.0`. bool is an int
    to Python, not a token count to anyone."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


class OpenAIGateway:
    """Talks to an OpenAI-compatible endpoint with the SDK, its own retries off."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, object] | None = None,
    ) -> None:
        # `headers` and `query` come from the operator's providers.toml (Azure's
        # `api-version`, OpenRouter's `HTTP-Referer`), never from a member.
        self._client = openai.AsyncOpenAI(
            api_key=_NO_SHARED_KEY,
            base_url=base_url,
            max_retries=0,
            timeout=timeout,
            default_headers=dict(headers or {}),
            default_query=dict(query or {}),
        )

    def __repr__(self) -> str:
        return f"OpenAIGateway(base_url={str(self._client.base_url)!r})"

    async def close(self) -> None:
        await self._client.close()

    def _for(self, api_key: str) -> openai.AsyncOpenAI:
        # with_options shares the one HTTP connection pool; only the header changes.
        return self._client.with_options(api_key=api_key)

    async def list_models(self, api_key: str) -> list[str]:
        try:
            page = await self._for(api_key).models.list()
            ids: list[str] = [model.id async for model in page]
        except Exception as exc:
            raise self._classify(exc) from None
        return sorted(ids)

    @staticmethod
    def _wire(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
        return [
            cast(ChatCompletionMessageParam, {"role": m.role, "content": _content(m)})
            for m in messages
        ]

    async def stream_chat(
        self, *, api_key: str, model: str, messages: Sequence[ChatMessage], max_tokens: int
    ) -> AsyncGenerator[ChatChunk, None]:
        finished = False
        try:
            # `post` sends the body as written: the same fields `chat.completions.create`
            # sends, without walking every message through its parameter transformer.
            stream = await self._for(api_key).post(
                "/chat/completions",
                cast_to=object,
                body={
                    "model": model,
                    "messages": self._wire(messages),
                    "max_completion_tokens": max_tokens,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
                options=_BEARER,
                stream=True,
                stream_cls=_JSON_CHUNKS,
            )
        except Exception as exc:
            raise self._classify(exc) from None
        try:
            async with stream:
                async for data in stream:
                    usage, texts, finishes = _read_chunk(data)
                    if usage is not None:
                        yield ChatChunk(usage=usage)
                    for text in texts:
                        yield ChatChunk(text=text)
                    finished = finished or finishes
        except Exception as exc:
            error = self._classify(exc, streaming=True)
            # Once the answer has begun, a dropped connection is a cut stream.
            if error.kind.transient:
                raise ProviderError(FailureKind.CUT, request_id=error.request_id) from None
            raise error from None
        if not finished:
            raise ProviderError(FailureKind.CUT)

    async def complete_chat(
        self, *, api_key: str, model: str, messages: Sequence[ChatMessage], max_tokens: int
    ) -> ChatChunk:
        try:
            completion = await self._for(api_key).chat.completions.create(
                model=model,
                messages=self._wire(messages),
                max_completion_tokens=max_tokens,
                stream=False,
            )
        except Exception as exc:
            raise self._classify(exc) from None
        text = "".join(choice.message.content or "" for choice in completion.choices[:1])
        usage = completion.usage
        return ChatChunk(
            text=text,
            usage=TokenUsage(usage.prompt_tokens, usage.completion_tokens) if usage else None,
        )

    def _classify(self, exc: BaseException, *, streaming: bool = False) -> ProviderError:
        """Map SDK and transport exceptions to what a member can be told."""
        request_id = getattr(exc, "request_id", None)
        code = getattr(exc, "code", None)
        kind: FailureKind
        retry_after: float | None = None
        # APITimeoutError is an APIConnectionError: test it first.
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            kind = FailureKind.TIMEOUT
        elif isinstance(exc, openai.APIConnectionError):
            kind = FailureKind.UNREACHABLE
        elif isinstance(exc, openai.AuthenticationError):
            kind = FailureKind.UNAUTHORIZED
        elif isinstance(exc, openai.RateLimitError):
            if code == "insufficient_quota":
                kind = FailureKind.NO_CREDIT
            else:
                kind = FailureKind.RATE_LIMITED
                retry_after = self._retry_after(exc.response.headers)
        elif isinstance(exc, openai.PermissionDeniedError):
            kind = (
                FailureKind.REGION
                if code == "unsupported_country_region_territory"
                else FailureKind.PERMISSION
            )
        elif isinstance(exc, openai.NotFoundError):
            # OpenAI's model_not_found, Azure's DeploymentNotFound: no such model for this key.
            kind = FailureKind.MODEL_NOT_FOUND
        elif isinstance(exc, openai.InternalServerError):
            kind = FailureKind.SERVER
            # A 503 may say when to come back, like a 429.
            retry_after = self._retry_after(exc.response.headers)
        elif isinstance(exc, openai.BadRequestError) and _refuses_images(exc):
            kind = FailureKind.IMAGES_UNSUPPORTED
        elif isinstance(exc, openai.APIStatusError) and exc.status_code == 402:
            # OpenRouter (and others) say "insufficient credits" with 402 Payment Required.
            kind = FailureKind.NO_CREDIT
        elif isinstance(exc, openai.APIStatusError):
            kind = FailureKind.SERVER if exc.status_code >= 500 else FailureKind.BAD_REQUEST
            if kind is FailureKind.SERVER:
                retry_after = self._retry_after(exc.response.headers)
        elif isinstance(exc, httpx2.TransportError | openai.APIError):
            # The body stopped mid-way: a cut stream, not a complete answer.
            kind = FailureKind.CUT
        elif streaming and isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
            # A chunk the SDK could not read (not JSON, or not the shape it expects): the
            # provider's fault, handled like a cut stream, not a bug of ours.
            log.warning("unreadable chunk in the provider's stream: %s", exc)
            kind = FailureKind.CUT
        else:
            log.error("unexpected provider failure", exc_info=exc)
            kind = FailureKind.SERVER
        log.warning(
            "provider call failed: %s (%s) request_id=%s",
            kind.value,
            type(exc).__name__,
            request_id or "-",
        )
        return ProviderError(kind, retry_after=retry_after, request_id=request_id)

    def _retry_after(self, headers: Mapping[str, str]) -> float | None:
        parsed: Any = self._client._parse_retry_after_header(httpx2.Headers(headers))
        if isinstance(parsed, int | float) and parsed >= 0:
            # `retry-after: inf` parses; a wait is told in seconds, so keep it finite.
            return min(float(parsed), MAX_RETRY_AFTER)
        resets = [
            _parse_reset(headers[name])
            for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
            if name in headers
        ]
        waits = [wait for wait in resets if wait is not None]
        return min(max(waits), MAX_RETRY_AFTER) if waits else None
