"""A fake OpenAI-compatible provider on 127.0.0.1 that the real `openai` SDK talks to.

Each API key has a behaviour; every request's Authorization header is recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import serve_on_loopback

VALID = "valid"
UNAUTHORIZED = "unauthorized"
NO_CREDIT = "no_credit"
RATE_LIMITED = "rate_limited"
RATE_LIMITED_ONCE = "rate_limited_once"
REGION = "region"
FORBIDDEN = "forbidden"
MODEL_NOT_FOUND = "model_not_found"
SLOW = "slow"
SERVER_ERROR = "server_error"
SERVER_ERROR_ONCE = "server_error_once"
# 503 with `retry-after` (FakeOpenAI.retry_after) the first time, then answers.
UNAVAILABLE_ONCE = "unavailable_once"
# The same, with `retry-after-ms` instead.
UNAVAILABLE_ONCE_MS = "unavailable_once_ms"
CUT = "cut"
CUT_ABRUPT = "cut_abrupt"
# The third chunk of the stream is not JSON.
MALFORMED = "malformed"
# Other providers' error shapes: OpenRouter's 402 "insufficient credits" (its code a number),
# Azure's 404 DeploymentNotFound.
CREDITS_402 = "credits_402"
DEPLOYMENT_NOT_FOUND = "deployment_not_found"
# 400 for the image itself, as OpenAI answers a picture it cannot decode.
BAD_IMAGE = "bad_image"

DEFAULT_MODELS = ("gpt-5-mini", "gpt-4.1-mini", "gpt-4o", "text-embedding-3-small", "whisper-1")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    authorization: str | None
    body: dict[str, Any] | None
    # time.monotonic() when it arrived.
    at: float = 0.0
    # The Host header, the query parameters and every header (names in lower case).
    host: str = ""
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, *, code: str | None, kind: str) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers={"x-request-id": "req_fake_123"})


def text_of(content: Any) -> str:
    """A message's text, whether sent as a string or as parts."""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if p.get("type") == "text")


def image_parts(messages: list[dict[str, Any]]) -> list[str]:
    """The image URLs of every message, in order."""
    return [
        part["image_url"]["url"]
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]


def split_into_words(answer: str) -> list[str]:
    pieces = [word + " " for word in answer.split(" ")]
    pieces[-1] = pieces[-1].rstrip(" ")
    return pieces


# The speaker's name the bot writes before a member's message in a shared place.
_SPEAKER = re.compile(r"^\[[^\]\n]*\]: ")


@dataclass
class FakeOpenAI:
    behaviours: dict[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = DEFAULT_MODELS
    # Models that answer a request with an image part as OpenAI answers for a text-only model.
    text_only_models: frozenset[str] = frozenset()
    retry_after: str = "2"
    slow_seconds: float = 5.0
    # What the fake answers, from the last user message (without the `[name]: ` the bot puts
    # before a question in a shared place: `requests` keeps that); by default it echoes it.
    reply: Callable[[str], str] = lambda question: f"You asked: {question}"
    # How a streamed answer is cut into chunks; by default word by word.
    split: Callable[[str], list[str]] = split_into_words
    # Raw server-sent events written, as they are, before a streamed answer's third piece:
    # chunks of odd or wrong shapes, a mid-stream error.
    events_before_third: tuple[bytes, ...] = ()
    # When set, a streamed answer's usage chunk carries this instead of the real counts.
    usage_override: object = None
    requests: list[RecordedRequest] = field(default_factory=list)
    # The usage each completed chat call reported, in order.
    reported_usage: list[dict[str, int]] = field(default_factory=list)
    # Set when a chat request arrives, so tests can act while it is being answered.
    chat_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when a streamed answer has sent its first piece.
    first_piece_sent: asyncio.Event = field(default_factory=asyncio.Event)
    # key -> chat requests with that key being answered right now, and the most ever at once.
    in_flight: dict[str, int] = field(default_factory=dict)
    most_in_flight: dict[str, int] = field(default_factory=dict)
    # key -> (after the first piece?, event): see hold().
    _holds: dict[str, tuple[bool, asyncio.Event]] = field(default_factory=dict)
    _calls: dict[tuple[str, str], int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def authorizations(self, path_suffix: str = "") -> list[str | None]:
        return [r.authorization for r in self.requests if r.path.endswith(path_suffix)]

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def hold(self, key: str, *, mid_stream: bool = False) -> asyncio.Event:
        """Chat requests with `key` wait until the returned event is set: before anything is
        answered, or (`mid_stream`) after the first piece of a streamed answer. A test can
        then act while a turn is in flight."""
        gate = asyncio.Event()
        self._holds[key] = (mid_stream, gate)
        return gate

    async def _wait_if_held(self, key: str, *, mid_stream: bool) -> None:
        held = self._holds.get(key)
        if held is not None and held[0] == mid_stream:
            await held[1].wait()

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> str:
        body = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization")
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                auth,
                body,
                at=time.monotonic(),
                host=request.host,
                query=dict(request.query),
                headers={name.lower(): value for name, value in request.headers.items()},
            )
        )
        key = auth.removeprefix("Bearer ") if auth else ""
        return self.behaviours.get(key, UNAUTHORIZED)

    def _count(self, behaviour: str, path: str) -> int:
        self._calls[(behaviour, path)] = self._calls.get((behaviour, path), 0) + 1
        return self._calls[(behaviour, path)]

    async def _models(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self._record(request)
        if behaviour == UNAUTHORIZED:
            return _error(
                401,
                "Incorrect API key provided.",
                code="invalid_api_key",
                kind="invalid_request_error",
            )
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        behaviour = await self._record(request)
        self.chat_arrived.set()
        key = (self.requests[-1].authorization or "").removeprefix("Bearer ")
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.most_in_flight[key] = max(self.most_in_flight.get(key, 0), self.in_flight[key])
        try:
            return await self._answer_chat(request, behaviour, key)
        finally:
            self.in_flight[key] -= 1

    async def _answer_chat(
        self, request: web.Request, behaviour: str, key: str
    ) -> web.StreamResponse:
        payload = self.requests[-1].body or {}
        await self._wait_if_held(key, mid_stream=False)
        failure = self._failure(behaviour, request.path)
        if failure is not None:
            return failure
        if behaviour == SLOW:
            await asyncio.sleep(self.slow_seconds)
        messages = payload.get("messages", [])
        if payload.get("model") in self.text_only_models and image_parts(messages):
            return _error(
                400,
                "Invalid content type. image_url is only supported by certain models.",
                code=None,
                kind="invalid_request_error",
            )
        question = _SPEAKER.sub(
            "",
            next((text_of(m["content"]) for m in reversed(messages) if m["role"] == "user"), ""),
            count=1,
        )
        answer = self.reply(question)
        prompt_tokens = sum(len(str(m["content"]).split()) for m in payload.get("messages", []))
        pieces = self.split(answer)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        model = payload.get("model", "gpt-5-mini")
        reports_usage = not payload.get("stream") or (payload.get("stream_options") or {}).get(
            "include_usage"
        )
        if reports_usage and behaviour not in (CUT, CUT_ABRUPT):
            self.reported_usage.append(usage)
        if not payload.get("stream"):
            return web.json_response(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        return await self._stream(request, key, model, pieces, behaviour, usage, payload)

    def _failure(self, behaviour: str, path: str) -> web.Response | None:
        match behaviour:
            case "unauthorized":
                return _error(
                    401,
                    "Incorrect API key provided.",
                    code="invalid_api_key",
                    kind="invalid_request_error",
                )
            case "no_credit":
                return _error(
                    429,
                    "You exceeded your current quota.",
                    code="insufficient_quota",
                    kind="insufficient_quota",
                )
            case "rate_limited" | "rate_limited_once":
                if behaviour == RATE_LIMITED_ONCE and self._count(behaviour, path) > 1:
                    return None
                response = _error(
                    429, "Rate limit reached.", code="rate_limit_exceeded", kind="requests"
                )
                response.headers["retry-after"] = self.retry_after
                response.headers["x-ratelimit-reset-requests"] = "1s"
                return response
            case "region":
                return _error(
                    403,
                    "Country, region, or territory not supported",
                    code="unsupported_country_region_territory",
                    kind="request_forbidden",
                )
            case "forbidden":
                return _error(
                    403,
                    "You have insufficient permissions for this operation.",
                    code=None,
                    kind="invalid_request_error",
                )
            case "bad_image":
                return _error(
                    400,
                    "You uploaded an unsupported image. Please make sure your image is below "
                    "20 MB in size and is of one the following formats: "
                    "['png', 'jpeg', 'gif', 'webp'].",
                    code="invalid_image_format",
                    kind="invalid_request_error",
                )
            case "model_not_found":
                return _error(
                    404,
                    "The model does not exist or you do not have access to it.",
                    code="model_not_found",
                    kind="invalid_request_error",
                )
            case "unavailable_once" | "unavailable_once_ms":
                if self._count(behaviour, path) > 1:
                    return None
                response = _error(503, "Slow down.", code=None, kind="server_error")
                if behaviour == UNAVAILABLE_ONCE_MS:
                    response.headers["retry-after-ms"] = str(int(float(self.retry_after) * 1000))
                else:
                    response.headers["retry-after"] = self.retry_after
                return response
            case "credits_402":
                body = {"error": {"message": "Insufficient credits.", "code": 402}}
                return web.json_response(body, status=402)
            case "deployment_not_found":
                body = {
                    "error": {
                        "code": "DeploymentNotFound",
                        "message": "The API deployment for this resource does not exist.",
                    }
                }
                return web.json_response(body, status=404)
            case "server_error" | "server_error_once":
                if behaviour == SERVER_ERROR_ONCE and self._count(behaviour, path) > 1:
                    return None
                return _error(500, "The server had an error.", code=None, kind="server_error")
        return None

    async def _stream(
        self,
        request: web.Request,
        key: str,
        model: str,
        pieces: list[str],
        behaviour: str,
        usage: dict[str, int],
        payload: dict[str, Any],
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "x-request-id": "req_fake_stream"}
        )
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                **(extra or {}),
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        cut = behaviour in (CUT, CUT_ABRUPT)
        for index, piece in enumerate(pieces):
            if index == 2:
                for event in self.events_before_third:
                    await response.write(event)
            if behaviour == MALFORMED and index == 2:
                await response.write(b"data: {this is not json\n\n")
                continue
            if cut and index == 2:
                if behaviour == CUT_ABRUPT and request.transport is not None:
                    request.transport.close()
                    return response
                await response.write_eof()
                return response
            delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
            await send([{"index": 0, "delta": delta, "finish_reason": None}])
            if index == 0:
                self.first_piece_sent.set()
                await self._wait_if_held(key, mid_stream=True)
        await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (payload.get("stream_options") or {}).get("include_usage"):
            reported = usage if self.usage_override is None else self.usage_override
            await send([], {"usage": reported})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
