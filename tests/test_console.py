"""The console adapter end to end: a subprocess fed through stdin, read from stdout."""

from __future__ import annotations

from pathlib import Path

from bot.vault import generate_master_key
from tests.fakes import openai_server
from tests.fakes.cli import run_cli
from tests.fakes.core import make_key
from tests.fakes.openai_server import FakeOpenAI


async def test_console_session_through_stdin_and_stdout(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    alice_key, bob_key, bad_key, leaked = make_key(), make_key(), make_key(), make_key()
    fake_openai.behaviours[alice_key] = openai_server.VALID
    fake_openai.behaviours[bob_key] = openai_server.VALID
    fake_openai.behaviours[bad_key] = openai_server.UNAUTHORIZED
    script = (
        "\n".join(
            [
                "/help",
                "hello there",
                f"/setkey {bad_key}",
                "/setkey sk-admin-" + "x" * 40,
                f"/setkey {alice_key}",
                "what is two plus two",
                "/channel general",
                "@bot question in the channel",
                "no mention, no answer",
                "/as bob",
                "@bot can bob ask",
                f"/setkey {bob_key}",
                "@bot now bob asks",
                f"@bot here is {leaked}",
                "/as alice",
                "/dm",
                "/mykey",
                "/model gpt-4o",
                "/model",
                "/frobnicate",
                "/removekey",
                "/forget",
            ]
        )
        + "\n"
    )
    env = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "OPENAI_BASE_URL": fake_openai.base_url,
    }
    # `you` is the default console user; start as alice for readability.
    code, out, err = await run_cli("console", cwd=tmp_path, env=env, stdin="/as alice\n" + script)
    assert code == 0, err
    for key in (alice_key, bob_key, bad_key, leaked):
        assert key not in out and key not in err
    assert "/setkey" in out  # help, and the how-to for a member with no key
    assert "[private to alice] I answer with your own OpenAI API key" in out
    assert "The provider rejected that key" in out
    assert "admin key" in out
    assert f"Your key `{alice_key[:7]}...{alice_key[-4:]}` is saved" in out
    assert "bot: You asked: what is two plus two" in out
    assert "bot: You asked: question in the channel" in out
    assert "no mention, no answer" not in out
    assert "[private to bob] I answer with your own OpenAI API key" in out
    assert "bot: You asked: now bob asks" in out
    assert "revoke it now" in out
    assert "From now on I'll answer you with `gpt-4o`" in out
    assert "Unknown command /frobnicate" in out
    assert "Your key is deleted" in out
    assert "Everything I stored about you is deleted" in out
    chat_auth = fake_openai.authorizations("/chat/completions")
    assert chat_auth == [f"Bearer {alice_key}", f"Bearer {alice_key}", f"Bearer {bob_key}"]
    # In the channel, bob's turn carried the channel's earlier exchange as context.
    bob_turn = fake_openai.chat_requests()[-1].body
    assert bob_turn is not None
    contents = [m["content"] for m in bob_turn["messages"]]
    assert "[alice]: question in the channel" in contents
    assert contents[-1] == "[bob]: now bob asks", "who asked is named in a channel"


async def test_console_ends_cleanly_on_empty_input(tmp_path: Path) -> None:
    env = {
        "BYOK_MASTER_KEYS": generate_master_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    code, out, err = await run_cli("run", cwd=tmp_path, env=env, stdin="")
    assert code == 0, err
    assert "byok-bot console" in out
