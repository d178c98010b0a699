"""The console and the core's text entry points take anything a terminal can send:
10,000 seeded lines of unicode, control characters, invalid UTF-8, odd command arguments and
lines up to 1 MB, each answered or deliberately left alone, with the database intact after."""

from __future__ import annotations

import io
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from adapters.console import BOT_MENTION, ConsoleAdapter, decode_line
from app.services import Services
from bot.domain import Member
from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import RecordingSink, ask, make_key
from tests.fakes.openai_server import FakeOpenAI

LINES = 10_000
COMMANDS = (
    "/as",
    "/dm",
    "/channel",
    "/setkey",
    "/removekey",
    "/mykey",
    "/model",
    "/usage",
    "/limit",
    "/help",
    "/forget",
    "/frobnicate",
    "@bot",
)
ODD_ARGUMENTS = (
    '"bob',
    "bob\\",
    "'",
    '""',
    "a b c",
    "#",
    "# general",
    "daily",
    "daily -1 usd",
    "monthly 1e400 usd",
    "99999999999999999999999 tokens",
    "sk-",
    "sk-admin-",
    "\x00",
    "\x1b[2J\x1b]0;owned\x07",
    "\u202e\u2066",
    "%00%ff%2D",
    "\ud800",
)


def random_text(rng: random.Random, size: int) -> str:
    pools = (
        "abcdefghijklmnopqrstuvwxyz ABC 0123456789 .,;:!?-_/\\'\"`#@<>&%",
        "".join(chr(c) for c in range(0, 32)) + "\x7f\x85\u2028\u2029",
        "äöüßéèçñ漢字かな한국어Ελληνικάعربيעברית",
        "\u200b\u200c\u200d\u2060\ufeff\u00ad\u2010\u2011\u2012\u2013\u2014\u2212",
        "😀🚀👩‍💻🏳️‍🌈",
    )
    return "".join(rng.choice(rng.choice(pools)) for _ in range(size))


def fuzz_lines(seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for index in range(LINES):
        roll = rng.random()
        if index % 2500 == 7:
            # A few lines of up to 1 MB.
            text = random_text(rng, 64) * (1_000_000 // 256)
            yield text.encode("utf-8", "surrogatepass")[:1_000_000]
        elif roll < 0.35:
            command = rng.choice(COMMANDS)
            argument = rng.choice(ODD_ARGUMENTS) if rng.random() < 0.6 else random_text(rng, 12)
            yield f"{command} {argument}".encode("utf-8", "surrogatepass")
        elif roll < 0.55:
            # Invalid UTF-8: lone continuation bytes, truncated sequences, overlongs.
            junk = bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 20)))
            yield random_text(rng, 5).encode() + junk + b"\xc0\xaf\xed\xa0\x80"
        elif roll < 0.6:
            yield b"   \t "
        else:
            yield random_text(rng, rng.randrange(1, 200)).encode("utf-8", "surrogatepass")


def may_stay_silent(text: str, in_channel: bool) -> bool:
    """Lines the console deliberately leaves alone: blank ones, and channel chatter that
    does not ask the bot (a key in it would still be answered by the leak guard)."""
    stripped = text.strip()
    if not stripped:
        return True
    if not in_channel or stripped.startswith("/"):
        return False
    if not stripped.lower().startswith(BOT_MENTION):
        return True
    return not stripped[len(BOT_MENTION) :].strip()


async def test_ten_thousand_odd_lines_each_get_a_reply_or_a_deliberate_silence(
    services: Services, fake_openai: FakeOpenAI, db_path: Path
) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(
        core=services.core, commands=services.commands, stdin=io.BytesIO(), stdout=out
    )
    unanswered: list[str] = []
    for raw in fuzz_lines(seed=20261127):
        text = decode_line(raw)
        assert "\ud800" not in text
        in_channel = console._state.channel is not None
        before = out.tell()
        await console.handle_line(text)
        if out.tell() == before and not may_stay_silent(text, in_channel):
            unanswered.append(text[:80])
    assert unanswered == []
    # Nothing that drives a terminal reached it.
    shown = out.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown and "\x00" not in shown

    # The database is consistent and still serves.
    await services.ledger.flush()
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    key = make_key()
    fake_openai.behaviours[key] = openai_server.VALID
    # Every odd `/setkey` above counted as a key check, so the console's own workspace is
    # paused for key checks now (bot/intake.py); the newcomer comes from another one.
    after = Member("console", "elsewhere", "after")
    assert (await services.commands.set_key(after, key)).ok
    sink = RecordingSink()
    await services.core.handle_message(ask(after, "still fine?"), sink)
    assert sink.text == "You asked: still fine?"


async def test_the_real_console_reads_invalid_utf8_and_odd_arguments(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    lines = b"\n".join(
        [
            b'/as "bob',
            b"/as bob\\",
            b"/as \xff\xfe",
            b"hello \xc3\x28 world \xed\xa0\x80",
            b"/channel \xe2\x82",
            b"@bot \x1b[31mred\x1b[0m",
            b"/model \xf0\x28\x8c\x28",
            b"/setkey \xc3\xa9t\xc3\xa9",
            b"\x00\x01\x02",
        ]
    )
    env = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "OPENAI_BASE_URL": fake_openai.base_url,
        # A terminal that can show ASCII only must not make output fail either.
        "PYTHONIOENCODING": "ascii",
    }
    code, out, err = await run_cli("console", cwd=tmp_path, env=env, stdin_bytes=lines + b"\n")
    assert code == 0, err
    assert "Traceback" not in err
    assert "Usage: /as NAME" in out
    assert "\x1b" not in out


async def test_a_cut_answer_and_its_apology_are_on_separate_lines(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(
        core=services.core, commands=services.commands, stdin=io.BytesIO(), stdout=out
    )
    key = make_key()
    fake_openai.behaviours[key] = openai_server.CUT
    await console.handle_line(f"/setkey {key}")
    await console.handle_line("tell me a story")
    lines = out.getvalue().splitlines()
    cut = next(i for i, line in enumerate(lines) if line.endswith("_(answer cut off)_"))
    assert lines[cut + 1].startswith("[private to you] ")
    assert out.getvalue().endswith("\n")


async def test_the_console_never_repeats_a_key_it_was_typed(
    services: Services, fake_openai: FakeOpenAI
) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(
        core=services.core, commands=services.commands, stdin=io.BytesIO(), stdout=out
    )
    key = make_key()
    for line in (f"/as {key}", f"/channel {key}", f"/{key}", f"/model {key}", "/dm"):
        await console.handle_line(line)
    shown = out.getvalue()
    # Not the key, nor any piece of it longer than a mask shows.
    assert not any(key[i : i + 12] in shown for i in range(len(key) - 12))
