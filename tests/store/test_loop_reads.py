"""Reads that need one lookup are answered on the event loop's own thread, on both backends; reads that need more
go the full way with the same answers; on PostgreSQL, a loop connection lost while idle is replaced unseen, and a
read from a loop other than the store's still works."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from openplum.store import PostgresStore
from openplum.store.base import Tx
from openplum.store.loop_reads import SHARED_KEYS
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




def _profiles_of(app_id: str, user_id: str) -> Callable[[Tx], bytes | None]:
    def read(tx: Tx) -> bytes | None:
        return tx.load_profiles(app_id, [user_id]).get(user_id)

    return read


def _statements(store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the store's loop reader sends, in order."""
    reader = store._loop_reader
    assert reader is not None
    sent: list[str] = []
    fetch = reader._fetch

    async def counted(query: str, params: tuple[Any, ...]) -> Any:
        sent.append(query)
        return await fetch(query, params)

    monkeypatch.setattr(reader, "_fetch", counted)
    return sent


def _save(app_id: str, docs: dict[str, bytes]) -> Callable[[Tx], None]:
    def write(tx: Tx) -> None:
        tx.save_profiles(app_id, [(u, d, 1.0) for u, d in docs.items()])

    return write


def test_profile_lookups_asked_in_one_turn_share_one_statement(
    make_pg_store: MakePgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_pg_store()
    record = app("shared")
    docs = {f"u{n}": f'{{"n":{n}}}'.encode() for n in range(40)}

    async def scenario(s: AnyStore) -> None:
        assert isinstance(s, PostgresStore)
        await s.write(insert(record))
        await s.write(_save(record.app_id, docs))
        sent = _statements(s, monkeypatch)
        asked = [*docs, "u3", "u3", "nobody", "u7"]  # repeats and a user without a profile among them
        answers = await asyncio.gather(*(s.read(_profiles_of(record.app_id, u)) for u in asked))
        assert answers == [docs.get(u) for u in asked]
        assert len(sent) == 1
        assert "ANY" in sent[0]

    run(store, scenario)


def test_a_profile_lookup_alone_goes_as_its_own_statement(
    make_pg_store: MakePgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_pg_store()
    record = app("alone")

    async def scenario(s: AnyStore) -> None:
        assert isinstance(s, PostgresStore)
        await s.write(insert(record))
        await s.write(_save(record.app_id, {"u1": b'{"a":1}'}))
        sent = _statements(s, monkeypatch)
        assert await s.read(_profiles_of(record.app_id, "u1")) == b'{"a":1}'
        assert await s.read(_profiles_of(record.app_id, "u2")) is None
        assert len(sent) == 2
        assert not any("ANY" in q for q in sent)

    run(store, scenario)


def test_shared_lookups_of_other_apps_and_more_keys_than_one_statement_asks_are_all_answered(
    make_pg_store: MakePgStore,
) -> None:
    store = make_pg_store()
    first, second = app("first"), app("second")
    many = SHARED_KEYS + 10

    async def scenario(s: AnyStore) -> None:
        for record in (first, second):
            await s.write(insert(record))
            await s.write(_save(record.app_id, {f"u{n}": f"{record.name}{n}".encode() for n in range(many)}))
        asked = [(r, f"u{n}") for n in range(many) for r in (first, second)]
        answers = await asyncio.gather(*(s.read(_profiles_of(r.app_id, u)) for r, u in asked))
        assert answers == [f"{r.name}{u[1:]}".encode() for r, u in asked]

    run(store, scenario)


def test_a_lookup_whose_request_stopped_waiting_leaves_the_others_answered(make_pg_store: MakePgStore) -> None:
    store = make_pg_store()
    record = app("left")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        await s.write(_save(record.app_id, {"u1": b"1", "u2": b"2", "u3": b"3"}))
        reads = [asyncio.ensure_future(s.read(_profiles_of(record.app_id, u))) for u in ("u1", "u2", "u3")]
        await asyncio.sleep(0)  # each read has asked for its lookup
        reads[1].cancel()
        done = await asyncio.gather(*reads, return_exceptions=True)
        assert done[0] == b"1"
        assert done[2] == b"3"
        assert isinstance(done[1], asyncio.CancelledError)
        assert await s.read(_profiles_of(record.app_id, "u2")) == b"2"

    run(store, scenario)


def test_a_shared_lookup_that_fails_fails_every_read_waiting_on_it(make_pg_store: MakePgStore) -> None:
    store = make_pg_store()
    record = app("fails")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        await s.write(_save(record.app_id, {"u1": b"1"}))

        def drop(tx: Tx) -> None:
            tx._exec("DROP TABLE profiles")  # type: ignore[attr-defined]

        await s.write(drop)
        results = await asyncio.gather(*(s.read(_profiles_of(record.app_id, u)) for u in ("u1", "u2", "u1")),
                                       return_exceptions=True)
        assert all(isinstance(r, psycopg.errors.UndefinedTable) for r in results), results

    run(store, scenario)
