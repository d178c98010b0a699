"""After a whole session, including errors, no plaintext key is anywhere on disk or in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.services import Services
from tests.fakes import openai_server
from tests.fakes.core import RecordingSink, ask, make_key, member, with_key
from tests.fakes.openai_server import FakeOpenAI


async def test_full_session_leaves_no_plaintext_key(
    services: Services,
    fake_openai: FakeOpenAI,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def fast_sleep(seconds: float) -> None:
        return None

    services.core._conversation._sleep = fast_sleep
    used: list[str] = []
    behaviours = [
        openai_server.VALID,
        openai_server.NO_CREDIT,
        openai_server.RATE_LIMITED,
        openai_server.REGION,
        openai_server.MODEL_NOT_FOUND,
        openai_server.SERVER_ERROR,
        openai_server.CUT,
    ]
    for index, behaviour in enumerate(behaviours):
        who = member(f"user{index}")
        used.append(await with_key(services, fake_openai, who, behaviour))
        await services.core.handle_message(ask(who, "hello"), RecordingSink())
        await services.commands.run(who, "mykey")
        await services.commands.run(who, "model")
    # Refused, replaced, leaked and removed keys too.
    refused = make_key()
    used.append(refused)
    await services.commands.set_key(member("refused"), refused)
    leaked = make_key()
    used.append(leaked)
    await services.core.handle_message(ask(member("user0"), f"oops {leaked}"), RecordingSink())
    replaced_owner = member("replacer")
    used.append(await with_key(services, fake_openai, replaced_owner))
    used.append(await with_key(services, fake_openai, replaced_owner))
    await services.commands.run(member("user1"), "removekey")
    await services.commands.run(member("user2"), "forget")
    revoked = used[0]
    fake_openai.behaviours[revoked] = openai_server.UNAUTHORIZED
    await services.core.handle_message(ask(member("user0"), "again"), RecordingSink())

    files = [p for p in db_path.parent.iterdir() if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files)
    for path in files:
        content = path.read_bytes()
        for key in used:
            assert key.encode() not in content, f"plaintext key in {path.name}"
            assert key[8:40].encode() not in content, f"part of a key in {path.name}"
    logged = (
        "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
        + caplog.text
    )
    for key in used:
        assert key not in logged
        assert key[8:40] not in logged
