"""Writing the master key to `.env`, the only place it is ever written, and reading it back
while the bot runs."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from bot.settings import VaultSettings

MASTER_KEYS_VARIABLE = "BYOK_MASTER_KEYS"

log = logging.getLogger(__name__)


def master_keys_reader(env_file: Path) -> Callable[[], list[str]]:
    """What the running vault calls to see keys a rotation added: the variable as the next
    start would read it (the environment first, then `env_file`); none when it is unreadable."""

    def read() -> list[str]:
        try:
            return VaultSettings(_env_file=env_file).master_keys  # type: ignore[call-arg]
        except (ValidationError, OSError) as error:
            # Not logged with the error itself: a validation error quotes the bad value.
            log.warning(
                "%s in %s could not be read (%s); keeping the master keys in use",
                MASTER_KEYS_VARIABLE,
                env_file,
                type(error).__name__,
            )
            return []

    return read


def set_master_keys(env_file: Path, keys: list[str]) -> None:
    """Replace (or add) the BYOK_MASTER_KEYS line, keeping every other line; mode 0600."""
    lines = env_file.read_text("utf-8").splitlines() if env_file.exists() else []
    line = f"{MASTER_KEYS_VARIABLE}={','.join(keys)}"
    kept = [ln for ln in lines if not ln.strip().startswith(f"{MASTER_KEYS_VARIABLE}=")]
    placed = len(kept) != len(lines)
    if placed:
        index = next(
            i for i, ln in enumerate(lines) if ln.strip().startswith(f"{MASTER_KEYS_VARIABLE}=")
        )
        kept.insert(index, line)
    else:
        kept.append(line)
    # A new file, 0600 from the start and on disk before it replaces the old one: a crash
    # leaves either the old .env or the new, never half of one and never a readable key.
    temporary = env_file.with_name(f".{env_file.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(kept) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, env_file)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
