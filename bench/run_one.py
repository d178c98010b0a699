"""One measured run of one approach, in a fresh process (`python -m bench` starts one per run).

    python -m bench.run_one --approach A|B|C --members N --answers-each K \
        --base-url URL --keys FILE [--engine sqlite|postgres]

- A: the bare `openai` SDK, one shared AsyncOpenAI client, the member's key per request
  (`with_options`), streaming with usage: the floor any bot built on the SDK stands on.
- B: byok-bot, built as `byok-bot run` builds it: settings from the environment (the parent
  sets OPENAI_BASE_URL, BYOK_MASTER_KEYS, DATABASE_URL, LOG_LEVEL=INFO...), logging and key
  redaction configured as `run` configures them with a platform adapter, the services from
  `open_services`; each question goes through `ByokCore.handle_message` with a counting sink.
  The members' keys are already in the database, put there through `/setkey`.
- C: a new AsyncOpenAI client per message (created, used, closed), streaming with usage.
- A-json: A, reading each chunk as the JSON object it arrives as, as B's gateway does
  (`client.post` with `AsyncStream[object]`, bot/openai_gateway.py) instead of the typed
  model `chat.completions.create` builds per chunk: the floor under B's own way of reading,
  so that B against it is the bot's own work alone.

Members 0..N-1 all ask at once, each asking its next question as soon as its answer is
complete (a closed loop). Untimed first, a warm-up question from each of the first 100
members (the most idle connections the SDK keeps; for C, which has no pool, one question in
all); then K questions each, timed. Every
answer's first text must show its asker's key tail (bench/members.py) or the run fails. The
process prints one JSON line (see `measure`); B's log lines go to stderr, at INFO, as in
production (the parent sends them to a file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai

from bench.members import bench_member, check_answer, read_keys
from bot.domain import IncomingMessage

if TYPE_CHECKING:
    # Imported only where B runs: A's and C's processes hold only what they use.
    from app.services import Services

MODEL = "gpt-5-mini"
# The SDK keeps at most this many idle connections (DEFAULT_CONNECTION_LIMITS); warming up
# more members than that would not leave more connections open.
KEPT_ALIVE = 100
MAX_TOKENS = 1024
# byok-bot's default BYOK_REQUEST_TIMEOUT, for A and C too: the SDK's own 5-second connect
# timeout fails A when 1,000 members connect at once on a busy 2-core machine.
TIMEOUT = 60.0
APPROACHES = ("A", "A-json", "B", "C")


@dataclass
class Timing:
    """One answer: seconds from asking to the last chunk, and to the first text."""

    total: float
    first_text: float


# B's default system prompt (bot/prompts.py DEFAULT_SYSTEM_PROMPT, checked equal in
# tests/test_bench.py), written out so A and C import nothing of byok-bot.
BASELINE_SYSTEM_PROMPT = (
    "You are a helpful assistant in a team chat. Answer clearly and concisely; "
    "use Markdown sparingly."
)

# Asks member `number` its `turn`th question; checks the answer and says how long it took.
Ask = Callable[[int, int], Awaitable[Timing]]


async def _stream(client: openai.AsyncOpenAI, key: str, question: str, started: float) -> Timing:
    """One streamed answer through the SDK, every chunk consumed, usage required; times are
    counted from `started`."""
    stream = await client.chat.completions.create(
        model=MODEL,
        # The same messages B sends (its default system prompt, then the question): the SDK's
        # own work per message is then the same on both sides, and B-A is the bot's alone.
        messages=[
            {"role": "system", "content": BASELINE_SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ],
        max_completion_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    first: str | None = None
    first_at = 0.0
    usage = None
    async with stream:
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content and first is None:
                    first, first_at = choice.delta.content, time.perf_counter()
    check_answer(first, key)
    if usage is None:
        raise AssertionError("the answer came without its usage chunk")
    return Timing(total=time.perf_counter() - started, first_text=first_at - started)


async def _stream_json(
    client: openai.AsyncOpenAI, key: str, question: str, started: float
) -> Timing:
    """`_stream`, each chunk read as the JSON object it arrives as: the request B's gateway
    makes and the fields it reads (usage, each choice's text and finish)."""
    stream = await client.post(
        "/chat/completions",
        cast_to=object,
        body={
            "model": MODEL,
            "messages": [
                {"role": "system", "content": BASELINE_SYSTEM_PROMPT},
                {"role": "user", "content": question},
            ],
            "max_completion_tokens": MAX_TOKENS,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        options={"security": {"bearer_auth": True}},
        stream=True,
        stream_cls=openai.AsyncStream[object],
    )
    first: str | None = None
    first_at = 0.0
    usage = None
    finished = False
    async with stream:
        async for chunk in stream:
            assert isinstance(chunk, dict)
            if chunk.get("usage") is not None:
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content and first is None:
                    first, first_at = content, time.perf_counter()
                finished = finished or choice.get("finish_reason") is not None
    check_answer(first, key)
    if usage is None or not finished:
        raise AssertionError("the answer came without its finish or its usage chunk")
    return Timing(total=time.perf_counter() - started, first_text=first_at - started)


def shared_client_asker(
    base_url: str, keys: list[str], *, as_json: bool = False
) -> tuple[Ask, Callable[[], Awaitable[None]]]:
    """A (and A-json): one client, the member's key per request."""
    client = openai.AsyncOpenAI(
        api_key="sk-unused", base_url=base_url, max_retries=0, timeout=TIMEOUT
    )
    stream = _stream_json if as_json else _stream

    async def ask(number: int, turn: int) -> Timing:
        key, started = keys[number], time.perf_counter()
        return await stream(client.with_options(api_key=key), key, f"question {turn}", started)

    return ask, client.close


def client_per_message_asker(base_url: str, keys: list[str]) -> Ask:
    """C: a new client for every message."""

    async def ask(number: int, turn: int) -> Timing:
        key, started = keys[number], time.perf_counter()
        # Its creation and closing are part of the answer's time.
        async with openai.AsyncOpenAI(
            api_key=key, base_url=base_url, max_retries=0, timeout=TIMEOUT
        ) as client:
            timing = await _stream(client, key, f"question {turn}", started)
        return Timing(total=time.perf_counter() - started, first_text=timing.first_text)

    return ask


@dataclass
class CountingSink:
    """A ReplySink that keeps only what the bench checks: the first text and when it came."""

    first_text: str | None = None
    first_at: float = 0.0
    appended: int = 0
    finished: int = 0
    privates: list[str] = field(default_factory=list)

    async def start(self) -> None:
        pass

    async def append(self, text: str) -> None:
        if self.first_text is None:
            self.first_text, self.first_at = text, time.perf_counter()
        self.appended += 1

    async def finish(self) -> None:
        self.finished += 1

    async def private(self, text: str) -> None:
        self.privates.append(text)

    async def delete_original(self) -> bool:
        return False


async def _open_byok() -> Services:
    """The services as `byok-bot run` opens them (app/cli.py main and cmd_serve), with a
    platform adapter configured: library INFO lines are logged too, as in production."""
    from app.envfile import master_keys_reader
    from app.services import open_services
    from app.settings import env_file_path, load_settings
    from bot.redaction import configure_logging, guard_all_handlers

    env_file = env_file_path()
    settings = load_settings(env_file)
    configure_logging(settings.log.level, json_lines=settings.log.format == "json", console=False)
    services = await open_services(settings, master_keys_source=master_keys_reader(env_file))
    guard_all_handlers()
    return services


def byok_asker(services: Services, keys: list[str]) -> Ask:
    """B: each question as a channel message addressed to the bot, through the core."""
    core = services.core

    async def ask(number: int, turn: int) -> Timing:
        who = bench_member(number)
        message = IncomingMessage(
            member=who,
            text=f"question {turn}",
            is_private=False,
            addressed=True,
            channel="general",
            server=f"server-{who.workspace}",
        )
        sink = CountingSink()
        started = time.perf_counter()
        await core.handle_message(message, sink)
        ended = time.perf_counter()
        if sink.privates or sink.finished != 1:
            raise AssertionError(f"no answer: {sink.privates or 'finish was not called'}")
        check_answer(sink.first_text, keys[number])
        return Timing(total=ended - started, first_text=sink.first_at - started)

    return ask


async def closed_loop(ask: Ask, members: int, each: int, first_turn: int = 0) -> list[Timing]:
    """Every member at once, each asking `each` questions one after the other."""

    async def one(number: int) -> list[Timing]:
        return [await ask(number, first_turn + turn) for turn in range(each)]

    results = await asyncio.gather(*(one(number) for number in range(members)))
    return [timing for member in results for timing in member]


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the program now running;
    ru_maxrss would also count the parent's peak before the fork and exec that started it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _cut(values: list[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


async def measure(
    approach: str, *, members: int, each: int, base_url: str, keys: list[str]
) -> dict[str, Any]:
    """Warm up, run, and describe the run (times in ms, memory in MB)."""
    close: Callable[[], Awaitable[None]] | None = None
    services: Services | None = None
    if approach in ("A", "A-json"):
        ask, close = shared_client_asker(base_url, keys, as_json=approach == "A-json")
    elif approach == "B":
        services = await _open_byok()
        ask, close = byok_asker(services, keys), services.close
    elif approach == "C":
        ask = client_per_message_asker(base_url, keys)
    else:
        raise ValueError(f"no approach {approach!r}")
    try:
        # A and B fill their connection pools, as far as the pool keeps them; C has none to
        # fill, so one answer warms it.
        warm = 1 if approach == "C" else min(members, KEPT_ALIVE)
        await closed_loop(ask, warm, 1, first_turn=-1)
        cpu_before, started = time.process_time(), time.perf_counter()
        timings = await closed_loop(ask, members, each)
        if services is not None:
            # The usage rows are part of each answer's work: written before the clock stops.
            await services.ledger.flush()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
    finally:
        if close is not None:
            await close()
    answers = len(timings)
    totals = [timing.total * 1000 for timing in timings]
    firsts = [timing.first_text * 1000 for timing in timings]
    return {
        "approach": approach,
        "members": members,
        "answers": answers,
        "seconds": seconds,
        "answers_per_s": answers / seconds,
        "p50_ms": _cut(totals, 50),
        "p99_ms": _cut(totals, 99),
        "first_text_p50_ms": _cut(firsts, 50),
        "first_text_p99_ms": _cut(firsts, 99),
        "cpu_ms_per_answer": cpu * 1000 / answers,
        "peak_rss_mb": peak_rss_mb(),
        "key_checked": answers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run_one")
    parser.add_argument("--approach", choices=APPROACHES, required=True)
    parser.add_argument("--members", type=int, required=True)
    parser.add_argument("--answers-each", type=int, required=True)
    parser.add_argument("--base-url", required=True, help="the provider (bench/provider.py)")
    parser.add_argument("--keys", type=Path, required=True, help="a JSON list, one per member")
    args = parser.parse_args()
    keys = read_keys(args.keys)
    if args.members > len(keys):
        parser.error(f"--members {args.members}: only {len(keys)} keys in {args.keys}")
    result = asyncio.run(
        measure(
            args.approach,
            members=args.members,
            each=args.answers_each,
            base_url=args.base_url,
            keys=keys,
        )
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
