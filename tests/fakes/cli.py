"""Running `byok-bot` as an operator would: a real subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# `byok-bot` itself; LOOPBACK_CLI is the same command pointed at the fakes (see its module).
CLI = "app.cli"
LOOPBACK_CLI = "tests.fakes.loopback_cli"


def _environment(cwd: Path, env: dict[str, str] | None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }


async def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        CLI,
        *args,
        cwd=cwd,
        env=_environment(cwd, env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class RunningCli:
    """A `byok-bot` process that keeps running while the test talks to it through the fakes.

    Both pipes are drained all along, so a chatty process never blocks on a full pipe, and
    every byte it wrote is kept for the test to scan."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.out = bytearray()
        self.err = bytearray()
        assert process.stdout is not None and process.stderr is not None
        self._pumps = [
            asyncio.create_task(self._pump(process.stdout, self.out)),
            asyncio.create_task(self._pump(process.stderr, self.err)),
        ]

    @classmethod
    async def start(
        cls, *args: str, cwd: Path, env: dict[str, str] | None = None, module: str = CLI
    ) -> RunningCli:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=cwd,
            env=_environment(cwd, env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    @staticmethod
    async def _pump(stream: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await stream.read(65536):
            into.extend(chunk)

    @property
    def written(self) -> str:
        """Everything on stdout and stderr so far."""
        return (self.out + self.err).decode(errors="replace")

    async def wait_for_output(self, text: str, within: float = 30.0) -> None:
        async with asyncio.timeout(within):
            while text not in self.written:
                if self._process.returncode is not None:
                    raise AssertionError(f"byok-bot exited early:\n{self.written}")
                await asyncio.sleep(0.02)

    async def stop(self) -> int:
        """Interrupt it as an operator's Ctrl-C would; returns the exit status."""
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
        try:
            code = await asyncio.wait_for(self._process.wait(), timeout=30)
        except TimeoutError:
            self._process.kill()
            code = await self._process.wait()
        await asyncio.gather(*self._pumps)
        return code
