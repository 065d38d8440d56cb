"""The scale-out store: PostgreSQL through psycopg 3, one group-commit writer per process, pooled readers.

A ``schema`` query parameter in the URL (``postgresql://host/db?schema=name``) selects the schema, which is
created on first start; test runs use it to keep their data apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from openplum.errors import StoreUnavailable
from openplum.store.migrate import apply_migrations
from openplum.store.sql import SqlTx
from openplum.store.writer import GroupCommitWriter

T = TypeVar("T")


def split_schema(url: str) -> tuple[str, str | None]:
    """Return the libpq URL without our ``schema`` parameter, and that schema."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")), schema


def _begin(conn: psycopg.Connection[Any]) -> None:
    conn.execute("BEGIN")


class PostgresStore:
    backend = "postgres"

    def __init__(self, url: str, *, writer_queue_limit: int = 2000, readers: int = 4) -> None:
        self.url = url
        self._conninfo, self._schema = split_schema(url)
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if self._schema:
            self._kwargs["options"] = f"-csearch_path={self._schema}"
        self._writer = GroupCommitWriter(
            connect=self._connect, begin=_begin, make_tx=self._tx, queue_limit=writer_queue_limit,
            name="openplum-postgres-writer",
        )
        self._nreaders = readers
        self._pool: ConnectionPool[Any] | None = None
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="openplum-pg-reader")

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._conninfo, **self._kwargs)

    @staticmethod
    def _tx(conn: Any) -> SqlTx:
        return SqlTx(conn, pyformat=True)

    def migrate(self) -> list[str]:
        if self._schema:
            with psycopg.connect(self._conninfo, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema)))
        return apply_migrations("postgres", self.url)

    async def start(self) -> None:
        await asyncio.to_thread(self.migrate)
        self._pool = ConnectionPool(
            self._conninfo, kwargs=self._kwargs, min_size=1, max_size=self._nreaders, open=False,
        )
        self._pool.open(wait=True, timeout=30)
        self._writer.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.stop)
        self._executor.shutdown(wait=True)
        if self._pool is not None:
            self._pool.close()

    async def write(self, fn: Callable[[Any], T]) -> T:
        return await self._writer.submit(fn)

    async def read(self, fn: Callable[[Any], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read, fn)

    def _read(self, fn: Callable[[Any], T]) -> T:
        assert self._pool is not None, "store not started"
        try:
            with self._pool.connection(timeout=10) as conn:
                conn.execute("BEGIN READ ONLY")
                try:
                    return fn(self._tx(conn))
                finally:
                    conn.execute("ROLLBACK")
        except psycopg.OperationalError as exc:
            raise StoreUnavailable() from exc

    def run(self, fn: Callable[[Any], T]) -> T:
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                result = fn(self._tx(conn))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
