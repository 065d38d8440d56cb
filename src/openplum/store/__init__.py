"""Persistence: the ``Store`` protocol (``base``) and its SQLite and PostgreSQL implementations.

Owns every SQL statement and the migrations. Knows nothing of HTTP or of Leanplum's parameters.
"""

from __future__ import annotations

from openplum.settings import Settings
from openplum.store.base import Store
from openplum.store.postgres import PostgresStore
from openplum.store.sqlite import SqliteStore


def open_store(settings: Settings) -> SqliteStore | PostgresStore:
    """The store the settings select: PostgreSQL when a database URL is set, else the SQLite file."""
    if settings.database_url:
        return PostgresStore(settings.database_url, writer_queue_limit=settings.writer_queue_limit,
                             writers=settings.postgres_writers, readers=settings.postgres_readers)
    return SqliteStore(
        settings.sqlite_path,
        synchronous=settings.sqlite_synchronous,
        writer_queue_limit=settings.writer_queue_limit,
    )


__all__ = ["PostgresStore", "SqliteStore", "Store", "open_store"]
