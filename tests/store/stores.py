"""Stores built directly for the store tests (a temporary SQLite file, or a fresh PostgreSQL schema), and the
small pieces those tests share: a scenario run on a started store, an app record, a write that inserts it, and
a gate that holds the writer so that the writes queued behind it commit as one group."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from openplum.store import PostgresStore, SqliteStore
from openplum.store.base import AppRecord, Tx
from tests.conftest import BACKENDS, PG_URL

AnyStore = SqliteStore | PostgresStore
MakeStore = Callable[..., AnyStore]
MakePgStore = Callable[..., PostgresStore]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """Build unstarted stores of the test's backend; each PostgreSQL one gets a schema of its own."""
    if request.param == "sqlite":
        yield lambda **options: SqliteStore(tmp_path / f"{secrets.token_hex(4)}.db", synchronous="NORMAL", **options)
    else:
        yield from _postgres_stores()


@pytest.fixture
def make_pg_store() -> Iterator[MakePgStore]:
    """Build unstarted PostgreSQL stores, each in a schema of its own: for what only PostgreSQL has."""
    yield from _postgres_stores()


def _postgres_stores() -> Iterator[MakePgStore]:
    schemas: list[str] = []

    def make(**options: Any) -> PostgresStore:
        schemas.append("openplum_store_" + secrets.token_hex(6))
        sep = "&" if "?" in PG_URL else "?"
        return PostgresStore(f"{PG_URL}{sep}schema={schemas[-1]}", **options)

    yield make
    if schemas:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def run(store: AnyStore, scenario: Callable[[AnyStore], Awaitable[None]]) -> None:
    async def main() -> None:
        await store.start()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def app(tag: str) -> AppRecord:
    suffix = f"{tag}_{secrets.token_hex(4)}"
    return AppRecord(f"app_{suffix}", tag, f"prod_{suffix}", f"dev_{suffix}", f"exp_{suffix}", f"cro_{suffix}", 1.0)


def insert(record: AppRecord, seen: list[Tx] | None = None) -> Callable[[Tx], str]:
    def write(tx: Tx) -> str:
        if seen is not None:
            seen.append(tx)
        tx.insert_app(record)
        return record.app_id

    return write


class Gate:
    """A write that holds the writer thread (inside its transaction) until released."""

    def __init__(self, then: Callable[[Tx], object] | None = None) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.then = then

    def __call__(self, tx: Tx) -> None:
        if self.then is not None:
            self.then(tx)
        self.entered.set()
        if not self.release.wait(10):
            raise TimeoutError("gate was never released")

    async def hold(self, store: AnyStore) -> asyncio.Task[None]:
        task = asyncio.create_task(store.write(self))
        if not await asyncio.to_thread(self.entered.wait, 10):
            raise TimeoutError("the writer never ran the gate")
        return task


async def one_group(store: AnyStore, writes: list[Callable[[Tx], Any]]) -> list[Any]:
    """Run ``writes`` as one commit group; return each outcome (a value or the exception)."""
    gate = Gate()
    held = await gate.hold(store)
    tasks = [asyncio.create_task(store.write(fn)) for fn in writes]
    await asyncio.sleep(0)  # every task runs up to its await: each job is queued behind the gate
    gate.release.set()
    await held
    return list(await asyncio.gather(*tasks, return_exceptions=True))
