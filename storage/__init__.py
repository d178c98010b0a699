"""Where byok-bot keeps sealed keys and settings: the engines behind the core's Store port."""

from storage.errors import StorageConfigError
from storage.factory import open_store

__all__ = ["StorageConfigError", "open_store"]
