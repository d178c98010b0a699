"""Where byok-bot keeps sealed keys and settings: a Store protocol and its engines."""

from storage.factory import StorageConfigError, open_store
from storage.protocol import Store, StoredKey, WorkspaceConfig

__all__ = ["StorageConfigError", "Store", "StoredKey", "WorkspaceConfig", "open_store"]
