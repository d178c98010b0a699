"""Where byok-bot keeps sealed keys and settings: the engines behind the core's Store port."""

from storage.errors import StorageConfigError
from storage.factory import Database, migrate_database, open_store
from storage.schema import SchemaChange, SchemaMismatch

__all__ = [
    "Database",
    "SchemaChange",
    "SchemaMismatch",
    "StorageConfigError",
    "migrate_database",
    "open_store",
]
