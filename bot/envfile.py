"""Writing the master key to `.env`, the only place it is ever written."""

from __future__ import annotations

import os
from pathlib import Path

MASTER_KEYS_VARIABLE = "BYOK_MASTER_KEYS"


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
    # Create with 0600 from the start so the key is never readable by others, even briefly.
    descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(kept) + "\n")
    env_file.chmod(0o600)
