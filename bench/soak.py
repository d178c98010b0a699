"""`make soak`: mixed traffic from many members for a long while, with provider faults on.

Reports turns, failures by kind, turn latency p50/p99, RSS at the start and the end (after
a warm-up; growth must stay under 10%), open file descriptors and the database's size.
Exits 1 when memory grew too much, a turn raised, or a descriptor leaked.

    python -m bench.soak --minutes 30 --members 200
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.services import Services, open_services
from bot.domain import HistoryTurn, IncomingMessage, Member
from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, make_key, make_settings
from tests.fakes.openai_server import FakeOpenAI

MAX_RSS_GROWTH = 0.10
# Most turns work; the rest meet each fault the provider can throw.
FAULTS = (
    (openai_server.VALID, 0.80),
    (openai_server.RATE_LIMITED_ONCE, 0.03),
    (openai_server.SERVER_ERROR, 0.03),
    (openai_server.CUT, 0.04),
    (openai_server.CUT_ABRUPT, 0.02),
    (openai_server.MALFORMED, 0.02),
    (openai_server.MODEL_NOT_FOUND, 0.02),
    (openai_server.NO_CREDIT, 0.02),
    (openai_server.UNAUTHORIZED, 0.02),
)
COMMANDS = ("usage", "mykey", "model", "help", "limit")


@dataclass
class Tally:
    turns: int = 0
    commands: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def database_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


async def member_loop(
    services: Services,
    fake: FakeOpenAI,
    person: Member,
    rng: random.Random,
    deadline: float,
    tally: Tally,
) -> None:
    key = make_key()
    fake.behaviours[key] = openai_server.VALID
    await services.commands.set_key(person, key)
    history: list[HistoryTurn] = []
    while time.monotonic() < deadline:
        roll = rng.random()
        try:
            if roll < 0.80:
                fake.behaviours[key] = rng.choices(
                    [b for b, _ in FAULTS], weights=[w for _, w in FAULTS]
                )[0]
                private = rng.random() < 0.5
                message = IncomingMessage(
                    member=person,
                    text=f"question {tally.turns} " + "words " * rng.randrange(1, 40),
                    is_private=private,
                    addressed=True,
                    channel="" if private else f"channel-{rng.randrange(5)}",
                    server="" if private else "soak-server",
                    history=tuple(history[-20:]),
                )
                sink = RecordingSink()
                started = time.perf_counter()
                turn = await services.core.handle_message(message, sink)
                tally.latencies.append(time.perf_counter() - started)
                tally.turns += 1
                if turn is None:
                    tally.outcomes["refused"] += 1
                else:
                    tally.outcomes[turn.failure.value if turn.failure else "ok"] += 1
                    history += [
                        HistoryTurn("user", message.text),
                        HistoryTurn("assistant", sink.text),
                    ]
            elif roll < 0.97:
                await services.commands.run(person, rng.choice(COMMANDS))
                tally.commands += 1
            else:
                # A new key now and then: the old one is forgotten by the provider.
                fake.behaviours.pop(key, None)
                key = make_key()
                fake.behaviours[key] = openai_server.VALID
                await services.commands.set_key(person, key)
                tally.commands += 1
        except Exception as error:  # a soak reports every crash rather than stopping
            tally.crashes.append(f"{type(error).__name__}: {error}")
        await asyncio.sleep(rng.uniform(0.05, 0.5))


async def soak(*, minutes: float, members: int, seed: int) -> int:
    rng = random.Random(seed)
    fake = await FakeOpenAI().start()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "soak.sqlite3"
        services = await open_services(
            make_settings(
                fake,
                master_keys=generate_master_key(),
                database_url=f"sqlite:///{db}",
                BYOK_REQUESTS_PER_MINUTE=60,
                # Members here change keys far more often than people do (3% of their steps).
                BYOK_KEY_TRIES_PER_MEMBER=1000,
                BYOK_KEY_TRIES_PER_WORKSPACE=100_000,
            )
        )
        tally = Tally()
        try:
            warm_up = min(60.0, minutes * 60 / 5)
            deadline = time.monotonic() + minutes * 60
            people = [Member("soak", "", f"member{i}") for i in range(members)]
            loops = [
                asyncio.create_task(
                    member_loop(services, fake, p, random.Random(rng.random()), deadline, tally)
                )
                for p in people
            ]
            await asyncio.sleep(warm_up)
            fake.requests.clear()
            start_rss, start_fds = rss_bytes(), open_descriptors()
            while not all(loop.done() for loop in loops):
                await asyncio.sleep(5)
                # The fake provider records every request; the soak measures the bot.
                fake.requests.clear()
            await asyncio.gather(*loops)
            await services.ledger.flush()
            end_rss, end_fds = rss_bytes(), open_descriptors()
            size = database_bytes(db)
        finally:
            await services.close()
            await fake.close()
    latencies = sorted(tally.latencies) or [0.0]
    growth = end_rss / max(start_rss, 1) - 1
    print(f"soak: {minutes:g} min, {members} members, seed {seed}")
    print(f"turns: {tally.turns}, commands: {tally.commands}, crashes: {len(tally.crashes)}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in tally.outcomes.most_common()))
    print(
        f"turn latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )
    print(
        f"rss after warm-up {start_rss / 2**20:.1f} MiB, at the end {end_rss / 2**20:.1f} MiB "
        f"({growth:+.1%}; limit {MAX_RSS_GROWTH:.0%})"
    )
    print(f"open file descriptors: {start_fds} -> {end_fds}")
    print(f"database with WAL: {size / 2**20:.1f} MiB")
    for crash in collections.Counter(tally.crashes).most_common(5):
        print(f"crash: {crash[1]}x {crash[0]}")
    failed = growth > MAX_RSS_GROWTH or tally.crashes or end_fds > start_fds + 5
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    # Each provider fault is logged as a warning by design; the soak's report counts them.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(
        asyncio.run(soak(minutes=arguments.minutes, members=arguments.members, seed=arguments.seed))
    )


if __name__ == "__main__":
    main()
