"""Running `byok-bot` as an operator would: a real subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_environment(cwd: Path, env: dict[str, str] | None) -> dict[str, str]:
    """Only what a test gives: never the developer's tokens or settings."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO),
        # No health server unless a test asks for one: port 3000 would collide between
        # tests (and test runs) going on at once.
        "BYOK_HTTP_PORT": "",
        **(env or {}),
    }


async def run_cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str = "",
    stdin_bytes: bytes | None = None,
) -> tuple[int, str, str]:
    """Run `byok-bot ARGS` in a subprocess; returns its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=cwd,
        env=cli_environment(cwd, env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    given = stdin.encode() if stdin_bytes is None else stdin_bytes
    out, err = await asyncio.wait_for(process.communicate(given), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")
