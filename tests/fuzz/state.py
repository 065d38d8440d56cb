"""A cheap fingerprint of everything the store holds for one app, to prove a rejected request stored nothing.

Every table with an ``app_id`` column is found by introspection (so a table added later is covered without
touching this file) and read through a Tx's private ``_exec``, as ``tests.clients`` does: its row count, and
the largest value of each column that changes when a row is updated in place (a profile's ``updated``, a
session's ``expires``...). Equal fingerprints before and after a request mean it added, removed and touched
nothing of that app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from openplum.store.postgres import split_schema
from openplum.store.sql import SqlTx
from tests.conftest import ApiClient, Server

MUTABLE = ("updated", "expires", "ended", "version", "seen", "state", "duration", "progress")
"""Columns whose largest value moves when a row of their table is changed in place."""

_SQLITE_COLUMNS = (
    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY 1, 2"
)
_PG_COLUMNS = (
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
    "ORDER BY 1, 2"
)

Fingerprint = dict[str, tuple[Any, ...]]


def _tables(tx: Any, backend: str) -> dict[str, list[str]]:
    """Tables with an ``app_id`` column, each with the ``MUTABLE`` columns it has."""
    columns: dict[str, set[str]] = {}
    for table, column in tx._exec(_PG_COLUMNS if backend == "postgres" else _SQLITE_COLUMNS).fetchall():
        columns.setdefault(str(table), set()).add(str(column))
    return {t: [c for c in MUTABLE if c in cols] for t, cols in columns.items() if "app_id" in cols}


_cache: dict[str, dict[str, list[str]]] = {}
_readers: dict[str, Callable[[Callable[[Any], Any]], Any]] = {}


@contextmanager
def reader(server: Server) -> Iterator[None]:
    """While open, ``fingerprint`` reads ``server``'s PostgreSQL through one connection of its own (autocommit:
    each fingerprint is one statement, so one snapshot). Connecting per fingerprint, as ``store.run`` does, would
    cost ten times the request under test; SQLite's ``store.run`` is cheap and used as it is."""
    url = server.settings.database_url
    if server.backend != "postgres" or url is None:
        yield
        return
    conninfo, schema = split_schema(url)
    options = {"options": f"-csearch_path={schema}"} if schema else {}
    with psycopg.connect(conninfo, autocommit=True, **options) as conn:
        _readers[server.url] = lambda fn: fn(SqlTx(conn, pyformat=True))
        try:
            yield
        finally:
            del _readers[server.url]


def fingerprint(api: ApiClient) -> Fingerprint:
    """The app's rows, summarised per table (introspected once per backend)."""
    app_id, backend = api.app.app_id, api.server.backend

    def read(tx: Any) -> Fingerprint:
        tables = _cache.get(backend)
        if tables is None:
            tables = _cache[backend] = _tables(tx, backend)
        # One statement for every table: a round trip per table would cost more than the request under test.
        parts, shape = [], []
        for table, mutable in tables.items():
            for aggregate in ["COUNT(*)", *(f"MAX({c})" for c in mutable)]:
                parts.append(f"(SELECT {aggregate} FROM {table} WHERE app_id = ?)")
            shape.append((table, 1 + len(mutable)))
        row = iter(tx._exec("SELECT " + ", ".join(parts), (app_id,) * len(parts)).fetchone())
        return {table: tuple(next(row) for _ in range(width)) for table, width in shape}

    run = _readers.get(api.server.url, api.server.app.store.run)
    found: Fingerprint = run(read)
    return found


def changes(before: Fingerprint, after: Fingerprint) -> dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """The tables whose summary differs, with both summaries (empty when nothing changed)."""
    return {t: (before[t], after.get(t, ())) for t in before if before[t] != after.get(t)}
