"""The one error every engine raises for a DATABASE_URL it cannot use."""

from __future__ import annotations


class StorageConfigError(Exception):
    """DATABASE_URL names something this build cannot open; the message is one line naming
    the variable and what to do, and the CLI exits with status 2 on it."""
