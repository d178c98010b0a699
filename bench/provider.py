"""The bench's OpenAI-compatible provider, run in a process of its own so what it spends is
not charged to the process being measured.

    python -m bench.provider [--port N]

It prints `listening <port>` once it serves on 127.0.0.1, and stops on SIGTERM or SIGINT.
Every streamed answer is CHUNKS content chunks, a finish chunk, then (when the request asks
for it with `stream_options.include_usage`) a usage chunk and `[DONE]`. The first chunk is
`key_tail_mark(key)`, the bearer key's last KEY_TAIL characters, so the caller can check
that each answer was asked with the key it expected. Any key starting `sk-` is accepted;
anything else gets the 401 OpenAI sends for a wrong key. Nothing is recorded per request, so
the provider's memory and speed stay flat however long a run is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

from aiohttp import web

from bench.members import key_tail_mark

CHUNKS = 20
MODELS = ("gpt-5-mini", "gpt-4.1-mini", "gpt-4o")
LISTENING = "listening"
_UNAUTHORIZED = {
    "error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


def _key(request: web.Request) -> str | None:
    key = request.headers.get("Authorization", "").removeprefix("Bearer ")
    return key if key.startswith("sk-") else None


def _event(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


def _chunk(model: str, delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def _models(request: web.Request) -> web.StreamResponse:
    if _key(request) is None:
        return web.json_response(_UNAUTHORIZED, status=401)
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "bench"} for m in MODELS]
    return web.json_response({"object": "list", "data": data})


async def _chat(request: web.Request) -> web.StreamResponse:
    key = _key(request)
    if key is None:
        return web.json_response(_UNAUTHORIZED, status=401)
    payload = await request.json()
    model = str(payload.get("model", MODELS[0]))
    pieces = [key_tail_mark(key)] + [f"word{n} " for n in range(1, CHUNKS)]
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in payload["messages"])
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": CHUNKS,
        "total_tokens": prompt_tokens + CHUNKS,
    }
    if not payload.get("stream"):
        return web.json_response(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    # One write per chunk, as a provider sends them as they are generated.
    for index, piece in enumerate(pieces):
        delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
        await response.write(_event(_chunk(model, delta)))
    await response.write(_event(_chunk(model, {}, "stop")))
    if (payload.get("stream_options") or {}).get("include_usage"):
        usage_chunk = {**_chunk(model, {}), "choices": [], "usage": usage}
        await response.write(_event(usage_chunk))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def application() -> web.Application:
    app = web.Application()
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/chat/completions", _chat)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(application(), access_log=None)
    await runner.setup()
    # A deep backlog: 1,000 members connecting at once must not wait for SYN retries.
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"{LISTENING} {port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.provider")
    parser.add_argument("--port", type=int, default=0, help="0 (the default): a free port")
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
