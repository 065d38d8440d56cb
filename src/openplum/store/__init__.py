"""Persistence: the ``Store`` protocol (``base``) and its SQLite and PostgreSQL implementations.

Owns every SQL statement and the migrations. Knows nothing of HTTP or of Leanplum's parameters.
"""

from __future__ import annotations

import sqlite3

import apsw
import psycopg

from openplum.errors import StoreUnavailable
from openplum.settings import Settings
from openplum.store.base import Store
from openplum.store.postgres import PostgresStore
from openplum.store.sqlite import SqliteStore

UNAVAILABLE = (
    psycopg.OperationalError, sqlite3.OperationalError,  # migrations open SQLite with the standard library
    apsw.CantOpenError, apsw.ReadOnlyError, apsw.PermissionsError, apsw.IOError, apsw.FullError, apsw.BusyError,
    apsw.NotADBError, StoreUnavailable,
)
"""Errors that mean the store cannot be reached or written (the operator's to fix), not that openplum failed."""


def open_store(settings: Settings) -> SqliteStore | PostgresStore:
    """The store the settings select: PostgreSQL when a database URL is set, else the SQLite file."""
    if settings.database_url:
        return PostgresStore(settings.database_url, writer_queue_limit=settings.writer_queue_limit,
                             writers=settings.postgres_writers, readers=settings.postgres_readers)
    return SqliteStore(
        settings.sqlite_path,
        synchronous=settings.sqlite_synchronous,
        rehearse=settings.sqlite_rehearse,
        writer_queue_limit=settings.writer_queue_limit,
    )


__all__ = ["UNAVAILABLE", "PostgresStore", "SqliteStore", "Store", "open_store"]
