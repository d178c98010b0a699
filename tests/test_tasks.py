"""The one background-task tracker both platform adapters use."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.tasks import BackgroundTasks


async def test_close_lets_work_finish_within_the_grace_then_cancels_the_rest() -> None:
    tasks = BackgroundTasks()
    done: list[str] = []

    async def work(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        done.append(name)

    quick = tasks.spawn(work("quick", 0.01), name="quick")
    slow = tasks.spawn(work("slow", 30), name="slow")
    await tasks.close(grace=0.5)
    assert done == ["quick"]
    assert quick is not None and quick.done() and not quick.cancelled()
    assert slow is not None and slow.cancelled()


async def test_nothing_new_starts_once_closing() -> None:
    tasks = BackgroundTasks()
    await tasks.close()
    ran: list[int] = []

    async def work() -> None:
        ran.append(1)

    assert tasks.spawn(work(), name="late") is None
    await asyncio.sleep(0)
    assert ran == []


async def test_idle_waits_for_work_spawned_by_work() -> None:
    tasks = BackgroundTasks()
    order: list[str] = []

    async def child() -> None:
        await asyncio.sleep(0.01)
        order.append("child")

    async def parent() -> None:
        tasks.spawn(child(), name="child")
        order.append("parent")

    tasks.spawn(parent(), name="parent")
    await tasks.idle()
    assert order == ["parent", "child"]


async def test_a_failure_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks()

    async def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="adapters.tasks"):
        tasks.spawn(broken(), name="broken")
        await tasks.idle()
    (record,) = caplog.records
    assert "broken" in record.getMessage()
    assert record.exc_info is not None and "boom" in str(record.exc_info[1])
