"""What the entry point asks of a platform adapter."""

from __future__ import annotations

from typing import Protocol


class Adapter(Protocol):
    name: str

    async def run(self) -> None:
        """Serve until the platform connection ends or the task is cancelled."""
        ...

    async def close(self) -> None: ...
