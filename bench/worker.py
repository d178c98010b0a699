"""One worker process of the multi-process bench (bench/throughput.py starts it).

It opens the services on the shared database, as `byok-bot run` would, warms up with one
turn per member, prints `ready` and waits for `go` on stdin; then each of its members asks
TURNS questions one after the other, all its members at once, and it prints one JSON line:
{"turns": ..., "failed": ...}. The master key comes in BYOK_MASTER_KEYS, not on the command
line, which anyone on the machine can read.

    python -m bench.worker --database-url URL --base-url URL --first 0 --members 50 --turns 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass

from app.services import Services, open_services
from bot.domain import IncomingMessage, Member
from tests.fakes.core import RecordingSink, make_settings

READY = "ready"
GO = "go"


@dataclass(frozen=True)
class RemoteProvider:
    """The fake provider the parent process runs, reached over loopback."""

    base_url: str


def bench_member(number: int) -> Member:
    return Member("bench", "", f"worker-member{number}")


async def _member_turns(services: Services, who: Member, turns: int, label: str) -> int:
    """Ask `turns` questions one after the other; return how many were not answered."""
    failed = 0
    for turn in range(turns):
        sink = RecordingSink()
        message = IncomingMessage(
            member=who, text=f"{label} {turn}", is_private=True, addressed=True
        )
        await services.core.handle_message(message, sink)
        if not sink.text.startswith("You asked:"):
            failed += 1
    return failed


async def _all_members(services: Services, members: list[Member], turns: int, label: str) -> int:
    results = await asyncio.gather(*(_member_turns(services, who, turns, label) for who in members))
    return sum(results)


async def run(database_url: str, base_url: str, first: int, members: int, turns: int) -> None:
    services = await open_services(
        make_settings(
            RemoteProvider(base_url),
            master_keys=os.environ["BYOK_MASTER_KEYS"],
            database_url=database_url,
            BYOK_REQUESTS_PER_MINUTE=10_000,
        )
    )
    try:
        people = [bench_member(number) for number in range(first, first + members)]
        warm_failed = await _all_members(services, people, 1, "warm-up")
        print(READY, flush=True)
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() != GO:
            return
        failed = await _all_members(services, people, turns, "question")
        await services.ledger.flush()
        print(json.dumps({"turns": members * turns, "failed": failed + warm_failed}), flush=True)
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--members", type=int, required=True)
    parser.add_argument("--turns", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.base_url, args.first, args.members, args.turns))


if __name__ == "__main__":
    main()
