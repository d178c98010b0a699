"""A `byok-bot` process that keeps running while a test talks to it through the fakes."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.fakes.cli import cli_environment

# `byok-bot` itself, and the same command pointed at the fakes (see tests/fakes/loopback_cli.py).
CLI = "app.cli"
LOOPBACK_CLI = "tests.fakes.loopback_cli"


class RunningCli:
    """Both pipes are drained all along, so a chatty process never blocks on a full pipe, and
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
            env=cli_environment(cwd, env),
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
    def pid(self) -> int:
        return self._process.pid

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

    async def wait(self, within: float = 60.0) -> int:
        """Until it exits by itself; returns the exit status."""
        code = await asyncio.wait_for(self._process.wait(), within)
        await asyncio.gather(*self._pumps)
        return code

    async def kill(self) -> int:
        """SIGKILL: the process ends at once, cleaning nothing up, as in a crash."""
        if self._process.returncode is None:
            self._process.kill()
        code = await self._process.wait()
        await asyncio.gather(*self._pumps)
        return code

    async def stop(self, how: signal.Signals = signal.SIGINT) -> int:
        """Interrupt it as an operator's Ctrl-C would (or systemd's SIGTERM); returns the
        exit status."""
        if self._process.returncode is None:
            self._process.send_signal(how)
        try:
            code = await asyncio.wait_for(self._process.wait(), timeout=30)
        except TimeoutError:
            self._process.kill()
            code = await self._process.wait()
        await asyncio.gather(*self._pumps)
        return code
