"""What the entry point asks of a platform adapter."""

from __future__ import annotations

from typing import Protocol


class AdapterConfigError(Exception):
    """An adapter cannot start with these settings; the message is one line naming the variable."""


class Adapter(Protocol):
    name: str

    async def run(self) -> None:
        """Serve until the platform connection ends or the task is cancelled."""
        ...

    async def close(self) -> None: ...
