"""Reads that need one lookup are answered on the event loop's own thread, on both backends; reads that need more
go the full way with the same answers; on PostgreSQL, a loop connection lost while idle is replaced unseen, and a
read from a loop other than the store's still works."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import psycopg

from openplum.store.base import Tx
from tests.conftest import PG_URL
from tests.store.stores import AnyStore, MakePgStore, MakeStore, app, insert, run


def _lookup(app_id: str, threads: list[int]) -> Callable[[Tx], str | None]:
    def read(tx: Tx) -> str | None:
        threads.append(threading.get_ident())
        found = tx.get_app(app_id)
        return found.name if found else None

    return read


def test_a_read_of_one_lookup_runs_on_the_loop_thread(make_store: MakeStore) -> None:
    store = make_store()
    record = app("one")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        threads: list[int] = []
        assert await s.read(_lookup(record.app_id, threads)) == "one"
        assert await s.read(_lookup("app_missing", threads)) is None
        assert set(threads) == {threading.get_ident()}

    run(store, scenario)


def test_a_read_of_several_lookups_gets_every_answer(make_store: MakeStore) -> None:
    store = make_store()
    first, second = app("first"), app("second")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(first))
        await s.write(insert(second))

        def both(tx: Tx) -> list[str | None]:
            return [getattr(tx.get_app(a.app_id), "name", None) for a in (first, second, app("none"))]

        assert await s.read(both) == ["first", "second", None]

    run(store, scenario)


def test_a_loop_connection_lost_while_idle_is_replaced_unseen(make_pg_store: MakePgStore) -> None:
    store = make_pg_store(readers=1)
    record = app("again")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        began = time.time()
        threads: list[int] = []
        assert await s.read(_lookup(record.app_id, threads)) == "again"
        with psycopg.connect(PG_URL, autocommit=True) as admin:  # the server drops the loop's connection
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND backend_start >= to_timestamp(%s) AND query LIKE %s",
                (began - 5, "%FROM apps WHERE app_id%"),
            ).fetchall()
        assert killed
        assert await s.read(_lookup(record.app_id, threads)) == "again"
        assert set(threads) == {threading.get_ident()}

    run(store, scenario)


def test_a_read_from_another_loop_than_the_stores_is_answered(make_pg_store: MakePgStore) -> None:
    store = make_pg_store()
    record = app("elsewhere")
    answers: list[str | None] = []

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))

        def other_loop() -> None:
            answers.append(asyncio.run(s.read(_lookup(record.app_id, []))))

        thread = threading.Thread(target=other_loop)
        thread.start()
        await asyncio.to_thread(thread.join)

    run(store, scenario)
    assert answers == ["elsewhere"]


