"""`make bench`: speed and memory, as ratios measured within one run on this machine.

- pool: one shared connection pool with a per-request key vs. a new client per message
  (what many bots do); the ratio is how many times slower the new-client way is.
- ledger: batched usage rows vs. one transaction per row on the answer's path.
- memory: bytes byok-bot's own code holds after many turns vs. after a few (near 1.0 means
  nothing piles up).
- lookup: get_key + unseal p50/p99 at 100,000 stored keys, on SQLite and on PostgreSQL.
- workers: turns per second from 100 members at once, one worker process vs two, on one
  PostgreSQL database (bench/worker.py). Without a reachable server the PostgreSQL lines
  say why they were skipped.

bench/README.md lists every line with numbers from one run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openai

from app.services import Services, open_services
from bench import engines
from bot.domain import IncomingMessage, Member, UsageRecord
from bot.openai_gateway import OpenAIGateway
from bot.ports import ChatChunk, ChatMessage
from bot.pricing import PriceTable
from bot.usage import UsageLedger
from bot.vault import generate_master_key
from storage.sqlite import SqliteStore
from tests.fakes import openai_server, postgres
from tests.fakes.core import RecordingSink, make_key, make_settings
from tests.fakes.openai_server import FakeOpenAI

TURNS = 200
LEDGER_ROWS = 2000


class NewClientPerMessage(OpenAIGateway):
    """The anti-pattern, for comparison: a fresh SDK client (and pool) for every call."""

    async def list_models(self, api_key: str) -> list[str]:
        client = openai.AsyncOpenAI(api_key=api_key, base_url=self._base, max_retries=0)
        try:
            return sorted([m.id async for m in await client.models.list()])
        finally:
            await client.close()

    def __init__(self, *, base_url: str, timeout: float) -> None:
        super().__init__(base_url=base_url, timeout=timeout)
        self._base = base_url

    async def stream_chat(
        self, *, api_key: str, model: str, messages: Sequence[ChatMessage], max_tokens: int
    ) -> AsyncGenerator[ChatChunk, None]:
        client = openai.AsyncOpenAI(api_key=api_key, base_url=self._base, max_retries=0)
        try:
            stream = await client.chat.completions.create(
                model=model,
                messages=self._wire(messages),
                max_completion_tokens=max_tokens,
                stream=True,
            )
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield ChatChunk(text=choice.delta.content)
        finally:
            await client.close()


async def _services(fake: FakeOpenAI, folder: Path, name: str) -> Services:
    return await open_services(
        make_settings(
            fake,
            master_keys=generate_master_key(),
            database_url=f"sqlite:///{folder / name}.sqlite3",
            BYOK_REQUESTS_PER_MINUTE=10_000,
        )
    )


async def _turns(services: Services, fake: FakeOpenAI, members: int, turns: int) -> float:
    people = [Member("bench", "", f"user{i}") for i in range(members)]
    for person in people:
        key = make_key()
        fake.behaviours[key] = openai_server.VALID
        assert (await services.commands.set_key(person, key)).ok
    started = time.perf_counter()
    for turn in range(turns):
        person = people[turn % members]
        message = IncomingMessage(
            member=person, text=f"question {turn}", is_private=True, addressed=True
        )
        await services.core.handle_message(message, RecordingSink())
    return time.perf_counter() - started


async def bench_pool(fake: FakeOpenAI, folder: Path) -> float:
    shared = await _services(fake, folder, "shared")
    try:
        shared_time = await _turns(shared, fake, members=10, turns=TURNS)
    finally:
        await shared.close()
    per_message = await _services(fake, folder, "per-message")
    slow = NewClientPerMessage(base_url=fake.base_url, timeout=30)
    per_message.core._conversation._gateway = slow
    try:
        per_message_time = await _turns(per_message, fake, members=10, turns=TURNS)
    finally:
        await slow.close()
        await per_message.close()
    return per_message_time / shared_time


async def bench_ledger(folder: Path) -> float:
    await SqliteStore.migrate(folder / "ledger.sqlite3")
    store = await SqliteStore.open(folder / "ledger.sqlite3")
    try:
        person = Member("bench", "", "ledger")
        ledger = UsageLedger(store=store, prices=PriceTable.bundled())
        started = time.perf_counter()
        for _ in range(LEDGER_ROWS):
            ledger.record(
                person,
                server="",
                model="gpt-5-mini",
                outcome="ok",
                prompt_tokens=10,
                completion_tokens=20,
            )
        await ledger.flush()
        batched = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(LEDGER_ROWS):
            await store.record_usage(
                [UsageRecord(person, "", "gpt-5-mini", 10, 20, "ok", datetime.now(UTC))]
            )
        one_by_one = time.perf_counter() - started
    finally:
        await store.close()
    return one_by_one / batched


def _held_by_project() -> int:
    """Bytes allocated from byok-bot's own code (not the fake provider or the test helpers)."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, f"*/{folder}/*") for folder in ("bot", "storage", "adapters")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def bench_memory(fake: FakeOpenAI, folder: Path) -> float:
    services = await _services(fake, folder, "memory")
    # Each turn a minute after the last, as in a quiet server, so rate windows empty out.
    start = datetime.now(UTC)
    minutes = iter(range(0, 10**9, 61))
    services.core._conversation._limits._clock = lambda: start + timedelta(seconds=next(minutes))
    try:
        tracemalloc.start()
        await _turns(services, fake, members=50, turns=200)
        await services.ledger.flush()
        fake.requests.clear()
        gc.collect()
        after_few = _held_by_project()
        await _turns(services, fake, members=50, turns=1000)
        await services.ledger.flush()
        fake.requests.clear()
        gc.collect()
        after_many = _held_by_project()
        tracemalloc.stop()
    finally:
        await services.close()
    return after_many / max(after_few, 1)


async def main() -> None:
    fake = await FakeOpenAI().start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder)
            print(
                f"pool:   a new client per message is {await bench_pool(fake, path):.2f}x "
                f"slower than the shared pool ({TURNS} turns)"
            )
            print(
                f"ledger: one transaction per row is {await bench_ledger(path):.1f}x slower "
                f"than batching ({LEDGER_ROWS} rows)"
            )
            print(
                f"memory: bytes byok-bot holds after 1200 turns / after 200 turns = "
                f"{await bench_memory(fake, path):.2f} (near 1 means nothing piles up)"
            )
            await bench_engines(fake, path)
    finally:
        await fake.close()


async def bench_engines(fake: FakeOpenAI, folder: Path) -> None:
    master_key = generate_master_key()
    rows = engines.sealed_rows(master_key)
    print(await engines.bench_sqlite_lookup(folder, rows, master_key), flush=True)
    reason = await postgres.unreachable_reason()
    if reason is not None:
        print(f"lookup postgres: skipped, {reason}")
        print(f"workers postgres: skipped, {reason}")
        return
    name = await postgres.create_database(prefix="byok_bench_")
    try:
        url = postgres.database_url(name)
        print(await engines.bench_postgres_lookup(url, rows, master_key), flush=True)
        await engines.seed_worker_members(fake, url, master_key)
        one = await engines.turns_per_second(fake, url, master_key, workers=1)
        two = await engines.turns_per_second(fake, url, master_key, workers=2)
        print(
            f"workers postgres: {one:.0f} turns/s with 1 worker process, {two:.0f} with 2 "
            f"= {two / one:.2f}x ({engines.WORKER_MEMBERS} members at once, "
            f"{engines.WORKER_TURNS} turns each; {os.cpu_count()} cores)"
        )
    finally:
        await postgres.drop_database(name)


if __name__ == "__main__":
    asyncio.run(main())
