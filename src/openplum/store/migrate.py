"""Versioned migrations (yoyo), one directory of SQL files per backend, applied in order and recorded."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from yoyo import get_backend, read_migrations

MIGRATIONS = Path(__file__).parent / "migrations"


def _yoyo_url(backend: str, target: str) -> str:
    if backend == "sqlite":
        return "sqlite:///" + str(Path(target).resolve())
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", None)
    if schema:
        query["schema"] = schema
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), ""))


def migration_ids(backend: str) -> list[str]:
    """The ids of every migration of ``backend``, in order."""
    return [m.id for m in read_migrations(str(MIGRATIONS / backend))]


def apply_migrations(backend: str, target: str) -> list[str]:
    """Apply pending migrations to the SQLite file or PostgreSQL URL ``target``; return the ids applied."""
    yoyo = get_backend(_yoyo_url(backend, target))
    try:
        migrations = read_migrations(str(MIGRATIONS / backend))
        with yoyo.lock():
            pending = yoyo.to_apply(migrations)
            yoyo.apply_migrations(pending)
    finally:
        # Closed here, not whenever it is collected: the SQLite store's own connections (another SQLite
        # library) open the file next, and must not share it with this one.
        yoyo.connection.close()
    return [m.id for m in pending]
