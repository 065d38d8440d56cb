"""The group-commit writer on both backends: many requests per transaction, each isolated, none acknowledged early.

Stores are built directly (a temporary SQLite file, or a fresh PostgreSQL schema) and written and read only
through the ``Tx`` protocol. To put several writes in one group deterministically, a ``Gate`` write holds the
writer thread while the others queue up behind it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
import pytest

from openplum.errors import Overloaded, StoreUnavailable
from openplum.store import PostgresStore, SqliteStore
from openplum.store.base import AppRecord, StateRow, Tx
from openplum.store.postgres import PgTx
from openplum.store.rehearsal import Rehearsable
from tests.store.stores import AnyStore, Gate, MakeStore, app, insert, one_group, run


async def stored(store: AnyStore, app_id: str) -> bool:
    def read(tx: Tx) -> bool:
        return tx.get_app(app_id) is not None

    return await store.read(read)


# -- group commit --------------------------------------------------------------------------------------


def test_concurrent_writes_all_complete_and_are_committed(make_store: MakeStore) -> None:
    records = [app(f"c{i}") for i in range(300)]

    async def scenario(store: AnyStore) -> None:
        ids = await asyncio.gather(*(store.write(insert(r)) for r in records))
        assert ids == [r.app_id for r in records]
        assert all([await stored(store, r.app_id) for r in records])

    store = make_store()
    run(store, scenario)
    assert {a.app_id for a in store.run(lambda tx: tx.list_apps())} == {r.app_id for r in records}


def test_queued_writes_share_one_transaction(make_store: MakeStore) -> None:
    seen: list[Tx] = []
    records = [app(f"g{i}") for i in range(20)]

    async def scenario(store: AnyStore) -> None:
        outcomes = await one_group(store, [insert(r, seen) for r in records])
        assert outcomes == [r.app_id for r in records]
        assert len({id(tx) for tx in seen}) == 1, "20 queued writes should have been committed together"
        assert all([await stored(store, r.app_id) for r in records])

    run(make_store(), scenario)


class Boom(Exception):
    pass


def _raise_after_insert(record: AppRecord, key: bytes) -> Callable[[Tx], None]:
    def write(tx: Tx) -> None:
        tx.insert_app(record)
        tx.claim_keys("app_keys", [key], 1.0)
        raise Boom("the action failed")

    return write


def _database_error_after_insert(record: AppRecord, existing: AppRecord, key: bytes) -> Callable[[Tx], None]:
    def write(tx: Tx) -> None:
        tx.insert_app(record)
        tx.claim_keys("app_keys", [key], 1.0)
        tx.insert_app(existing)  # duplicate primary key: the database refuses, mid-transaction

    return write


def _as_jobs(fns: list[Callable[[Tx], Any]], rehearsable: bool, thrown_away: list[int]) -> list[Callable[[Tx], Any]]:
    """The writes as they are, or as ``Rehearsable`` jobs (which the writer runs without savepoints and runs
    again when one of them fails) noting in ``thrown_away`` which of them were told a run was thrown away."""
    if not rehearsable:
        return fns
    return [Rehearsable(fn, lambda i=i: thrown_away.append(i)) for i, fn in enumerate(fns)]


@pytest.mark.parametrize("rehearsable", [False, True], ids=["plain", "rehearsable"])
@pytest.mark.parametrize("failure", ["python-exception", "database-error"])
def test_a_write_that_raises_rolls_back_only_its_own_writes(make_store: MakeStore, failure: str,
                                                            rehearsable: bool) -> None:
    before, failing, after, existing = app("before"), app("failing"), app("after"), app("existing")
    key = b"key-of-failed-write"
    seen: list[Tx] = []
    thrown_away: list[int] = []

    async def scenario(store: AnyStore) -> None:
        await store.write(insert(existing))
        bad = (_raise_after_insert(failing, key) if failure == "python-exception"
               else _database_error_after_insert(failing, existing, key))

        def bad_seen(tx: Tx) -> None:
            seen.append(tx)
            bad(tx)

        jobs = _as_jobs([insert(before, seen), bad_seen, insert(after, seen)], rehearsable, thrown_away)
        outcomes = await one_group(store, jobs)
        assert len({id(tx) for tx in seen}) == 1, "the three writes should share one transaction"
        if rehearsable:  # they ran without savepoints first: the two that ran before the failure run again
            assert sorted(thrown_away) == [0, 1]
        assert (outcomes[0], outcomes[2]) == (before.app_id, after.app_id)
        if failure == "python-exception":
            assert isinstance(outcomes[1], Boom), "the caller gets its own exception"
        else:
            assert isinstance(outcomes[1], Exception)
            assert not isinstance(outcomes[1], StoreUnavailable), "a refused write is not a failed commit"
        assert await stored(store, before.app_id)
        assert await stored(store, after.app_id)
        assert not await stored(store, failing.app_id)
        claimed_again = await store.write(lambda tx: tx.claim_keys("app_keys", [key], 2.0))
        assert claimed_again == set(), "the failed write's replay key was rolled back too"

    run(make_store(), scenario)


def test_rehearsable_writes_that_all_succeed_run_once(make_store: MakeStore) -> None:
    records = [app(f"r{i}") for i in range(10)]
    seen: list[Tx] = []
    thrown_away: list[int] = []

    async def scenario(store: AnyStore) -> None:
        outcomes = await one_group(store, _as_jobs([insert(r, seen) for r in records], True, thrown_away))
        assert outcomes == [r.app_id for r in records]
        assert (len(seen), len({id(tx) for tx in seen})) == (10, 1), "each ran once, all in one transaction"
        assert thrown_away == []
        assert all([await stored(store, r.app_id) for r in records])

    run(make_store(), scenario)


# -- a failed COMMIT -----------------------------------------------------------------------------------


class CommitSwitch:
    """A connection whose next COMMIT fails once ``trigger`` is set (as a full disk or a lost server would)."""

    def __init__(self, conn: Any, trigger: threading.Event) -> None:
        self._conn = conn
        self._trigger = trigger

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self._trigger.is_set():
            self._trigger.clear()
            raise OSError("simulated failure during COMMIT")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def with_failing_commit(store: AnyStore, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    trigger = threading.Event()
    writer = store._writer  # the writer's own connections only; readers and migrations stay real
    connect = writer._connect
    monkeypatch.setattr(writer, "_connect", lambda: CommitSwitch(connect(), trigger))
    return trigger


def _arm(trigger: threading.Event, then: Callable[[Tx], str]) -> Callable[[Tx], str]:
    def write(tx: Tx) -> str:
        trigger.set()
        return then(tx)

    return write


def test_failed_commit_fails_every_request_of_its_group_and_persists_nothing(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [app(f"lost{i}") for i in range(3)]
    store = make_store()
    trigger = with_failing_commit(store, monkeypatch)

    async def scenario(store: AnyStore) -> None:
        outcomes = await one_group(store, [_arm(trigger, insert(records[0])), insert(records[1]),
                                           insert(records[2])])
        assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
        assert all(o.status == 503 for o in outcomes)
        for record in records:
            assert not await stored(store, record.app_id)

    run(store, scenario)


def test_writer_keeps_serving_after_a_failed_commit(make_store: MakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    lost, kept = app("lost"), app("kept")
    store = make_store()
    trigger = with_failing_commit(store, monkeypatch)

    async def scenario(store: AnyStore) -> None:
        with pytest.raises(StoreUnavailable):
            await store.write(_arm(trigger, insert(lost)))
        assert await store.write(insert(kept)) == kept.app_id
        assert await stored(store, kept.app_id)
        assert not await stored(store, lost.app_id)

    run(store, scenario)


# -- back-pressure and readers -------------------------------------------------------------------------


def test_queue_over_the_limit_is_overloaded_503(make_store: MakeStore) -> None:
    records = [app(f"q{i}") for i in range(3)]

    async def scenario(store: AnyStore) -> None:
        gate = Gate()
        held = await gate.hold(store)
        tasks = [asyncio.create_task(store.write(insert(r))) for r in records]
        await asyncio.sleep(0)
        shed = tasks[2]
        assert shed.done(), "the write over the limit is refused at once, not queued"
        error = shed.exception()
        assert isinstance(error, Overloaded)
        assert error.status == 503
        gate.release.set()
        await held
        assert list(await asyncio.gather(tasks[0], tasks[1])) == [records[0].app_id, records[1].app_id]
        assert not await stored(store, records[2].app_id)

    run(make_store(writer_queue_limit=2), scenario)


def test_readers_are_not_blocked_by_an_open_write_and_do_not_see_it(make_store: MakeStore) -> None:
    committed, pending = app("committed"), app("pending")

    async def scenario(store: AnyStore) -> None:
        await store.write(insert(committed))
        gate = Gate(then=insert(pending))
        held = await gate.hold(store)
        try:
            assert await asyncio.wait_for(stored(store, committed.app_id), 10)
            assert not await asyncio.wait_for(stored(store, pending.app_id), 10)
        finally:
            gate.release.set()
            await held
        assert await stored(store, pending.app_id)

    run(make_store(), scenario)


def test_writes_are_durable_across_a_restart(make_store: MakeStore) -> None:
    record = app("durable")
    store = make_store()

    async def write(store: AnyStore) -> None:
        await store.write(insert(record))

    run(store, write)
    reopened = SqliteStore(store.path) if isinstance(store, SqliteStore) else PostgresStore(store.url)
    assert reopened.run(lambda tx: tx.get_app(record.app_id)) == record


# -- lanes (PostgreSQL) ---------------------------------------------------------------------------------


@pytest.fixture
def make_pg_store(make_store: MakeStore, request: pytest.FixtureRequest) -> MakeStore:
    if request.node.callspec.params["make_store"] != "postgres":
        pytest.skip("several write connections per process are PostgreSQL's (SQLite has one writer per file)")
    return make_store


def test_a_second_lane_commits_while_the_first_is_busy(make_pg_store: MakeStore) -> None:
    quick = app("quick")

    async def scenario(store: AnyStore) -> None:
        gate = Gate()
        held = await gate.hold(store)
        try:  # the first lane is inside the gate's transaction: the other one serves this write
            assert await asyncio.wait_for(store.write(insert(quick)), 10) == quick.app_id
            assert await stored(store, quick.app_id)
        finally:
            gate.release.set()
            await held

    run(make_pg_store(writers=2), scenario)


def _lock_both(record: AppRecord | None, first: str, second: str, app_id: str, entered: threading.Event,
               barrier: threading.Barrier) -> Callable[[Tx], str]:
    def write(tx: Tx) -> str:
        if record is not None:
            tx.insert_app(record)
        tx.load_profiles(app_id, [first], lock=True)
        entered.set()
        barrier.wait(10)  # both lanes hold their first row: each now waits for the other's
        tx.load_profiles(app_id, [second], lock=True)
        return first

    return write


def test_a_deadlock_victim_is_answered_retryable_and_keeps_nothing(make_pg_store: MakeStore) -> None:
    """Two lanes lock the same two profiles in opposite orders: the server breaks the deadlock by failing one
    of them, whose request is answered 503 (the SDK sends it again) with none of its writes kept."""
    owner, left, right = app("owner"), app("left"), app("right")
    barrier = threading.Barrier(2)
    entered = [threading.Event(), threading.Event()]

    async def scenario(store: AnyStore) -> None:
        await store.write(insert(owner))
        await store.write(lambda tx: tx.save_profiles(owner.app_id, [("u1", b"{}", 1.0), ("u2", b"{}", 1.0)]))
        one = asyncio.create_task(store.write(_lock_both(left, "u1", "u2", owner.app_id, entered[0], barrier)))
        assert await asyncio.to_thread(entered[0].wait, 10)  # the first lane is busy: the second takes the next
        two = asyncio.create_task(store.write(_lock_both(right, "u2", "u1", owner.app_id, entered[1], barrier)))
        outcomes = await asyncio.wait_for(asyncio.gather(one, two, return_exceptions=True), 30)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failed) == 1, outcomes
        assert isinstance(failed[0], StoreUnavailable), outcomes
        assert failed[0].status == 503
        victim = left if outcomes[0] is failed[0] else right
        survivor = right if victim is left else left
        assert not await stored(store, victim.app_id)
        assert await stored(store, survivor.app_id)

    run(make_pg_store(writers=2), scenario)


def _lock_then_wait(user_id: str, mine: threading.Event, theirs: threading.Event) -> Callable[[Tx], str]:
    def write(tx: Tx) -> str:
        tx.load_profiles("app_locks", [user_id], lock=True)
        mine.set()
        theirs.wait(1)  # the other group holds its first user too, unless it waits for all of this group's
        return user_id

    return write


def _lock(user_id: str) -> Callable[[Tx], str]:
    def write(tx: Tx) -> str:
        tx.load_profiles("app_locks", [user_id], lock=True)
        return user_id

    return write


def _two_writers(make_pg_store: MakeStore, scenario: Callable[[AnyStore, AnyStore], Awaitable[None]]) -> None:
    """Run ``scenario`` on two started stores on one schema, with a writer of one lane each: two processes'."""
    first = make_pg_store(writers=1)
    second = PostgresStore(first.url, writers=1)

    async def main() -> None:
        await first.start()
        await second.start()
        try:
            await scenario(first, second)
        finally:
            await second.close()
            await first.close()

    asyncio.run(main())


async def _group_naming_users(store: AnyStore, writes: list[tuple[Callable[[Tx], str], str]]) -> list[Any]:
    """Run ``writes`` as one commit group, each naming its user (``Store.write``); each outcome."""
    gate = Gate()
    held = await gate.hold(store)
    tasks = [asyncio.create_task(store.write(fn, users=[("app_locks", user)])) for fn, user in writes]
    await asyncio.sleep(0)  # all are queued behind the gate: the lane takes them as one group
    gate.release.set()
    await held
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def test_groups_that_name_their_users_do_not_wait_for_each_other(make_pg_store: MakeStore) -> None:
    """Two writers, as in two processes, each commit a group of two requests; one group writes users u1 then
    u2, the other u2 then u1. Each request names its user, so each group's transaction locks both users before
    its first request runs: one group waits for the other to commit, where otherwise each would hold one
    user and wait for the other's (PostgreSQL would fail one request after a second, answered 503)."""
    one, two = threading.Event(), threading.Event()

    async def scenario(first: AnyStore, second: AnyStore) -> None:
        outcomes = await asyncio.wait_for(asyncio.gather(
            _group_naming_users(first, [(_lock_then_wait("u1", one, two), "u1"), (_lock("u2"), "u2")]),
            _group_naming_users(second, [(_lock_then_wait("u2", two, one), "u2"), (_lock("u1"), "u1")]),
        ), 30)
        assert outcomes == [["u1", "u2"], ["u2", "u1"]]

    _two_writers(make_pg_store, scenario)


def test_a_group_locking_its_users_behind_a_request_that_takes_them_one_at_a_time_still_commits(
    make_pg_store: MakeStore,
) -> None:
    """Another process's request, which named no users, holds u2 and then asks for u1, while a group naming u1
    and u2 holds u1 and waits for u2. PostgreSQL fails the transaction that waited first, the group's, as a
    deadlock victim: it held nothing but those locks, so it begins again once the other has its users, and
    every request of the group is applied rather than answered 503."""
    holding = threading.Event()

    def one_at_a_time(tx: Tx) -> str:
        tx.load_profiles("app_locks", ["u2"], lock=True)
        holding.set()
        time.sleep(0.3)  # the group is waiting for u2 by now, holding u1
        tx.load_profiles("app_locks", ["u1"], lock=True)
        return "late"

    async def scenario(first: AnyStore, second: AnyStore) -> None:
        late = asyncio.create_task(second.write(one_at_a_time))
        assert await asyncio.to_thread(holding.wait, 10)
        outcomes = await asyncio.wait_for(
            _group_naming_users(first, [(_lock("u1"), "u1"), (_lock("u2"), "u2")]), 30)
        other = (await asyncio.gather(late, return_exceptions=True))[0]
        assert outcomes == ["u1", "u2"]
        assert other == "late" or isinstance(other, StoreUnavailable), other

    _two_writers(make_pg_store, scenario)


def test_a_group_whose_users_stay_locked_by_others_commits_with_each_request_locking_its_own(
    make_pg_store: MakeStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When locking the group's users makes it a deadlock victim every time it tries, the group runs as it did
    before groups locked their users: each request locks its own, and the group still commits."""
    tries: list[int] = []

    def always_a_victim(tx: PgTx, users: Sequence[tuple[str, str]]) -> bool:
        if not users:  # the gate's group
            return False
        tries.append(len(users))
        tx.hold("DO $$BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END$$", ())
        return True

    monkeypatch.setattr(PgTx, "lock_users", always_a_victim)

    async def scenario(store: AnyStore) -> None:
        outcomes = await _group_naming_users(store, [(_lock("u1"), "u1"), (_lock("u2"), "u2")])
        assert outcomes == ["u1", "u2"]
        assert tries == [2, 2]

    run(make_pg_store(writers=1), scenario)


def _add_then_wait(name: str, mine: threading.Event, theirs: threading.Event) -> Callable[[Tx], str]:
    def write(tx: Tx) -> str:
        tx.add_names("app_names", [("event", name)])
        tx.load_profiles("app_names", ["u"])  # a read: the insert has been sent and made
        mine.set()
        theirs.wait(1)  # the other group has added its first name too, unless it waits for this one's
        return name

    return write


def _add(name: str) -> Callable[[Tx], str]:
    def write(tx: Tx) -> str:
        tx.add_names("app_names", [("event", name)])
        return name

    return write


def test_groups_adding_the_same_new_names_in_different_orders_take_turns(make_pg_store: MakeStore) -> None:
    """Two writers, as in two processes, each commit a group of two requests that see the same two new names,
    in opposite orders: each name's row would be waited for by the other group (a deadlock, one request
    answered 503); the app's lock on names makes the second group wait for the first's commit."""
    one, two = threading.Event(), threading.Event()

    async def scenario(first: AnyStore, second: AnyStore) -> None:
        outcomes = await asyncio.wait_for(asyncio.gather(
            one_group(first, [_add_then_wait("E1", one, two), _add("E2")]),
            one_group(second, [_add_then_wait("E2", two, one), _add("E1")]),
        ), 30)
        assert outcomes == [["E1", "E2"], ["E2", "E1"]]

    _two_writers(make_pg_store, scenario)


def test_a_statement_behind_a_failed_one_runs_again_on_the_same_connection(make_pg_store: MakeStore) -> None:
    """psycopg prepares a statement on its sixth run. When that run is queued in a pipeline behind a statement
    that fails, the server skips the ``PREPARE`` while psycopg counts the statement as prepared: the connection's
    next run of it must still work (it failed with "prepared statement does not exist", answered 500)."""
    owner = app("prepared")
    state = StateRow(1, "u1", None, None, "Home", 1.0, None, None)

    def fails_then_reads(tx: Tx) -> AppRecord | None:
        tx.insert_states(owner.app_id, [state])  # held back: a duplicate key, refused by the server
        return tx.get_app(owner.app_id)  # sent in the same round trip, behind it

    def raises(tx: Tx) -> None:
        raise RuntimeError("a bug")

    async def scenario(store: AnyStore) -> None:
        await store.write(insert(owner))
        with pytest.raises(RuntimeError):  # a rollback while nothing is prepared yet: psycopg keeps its cache
            await store.write(raises)
        await store.write(lambda tx: tx.insert_states(owner.app_id, [state]))
        for _ in range(5):
            assert await store.write(lambda tx: tx.get_app(owner.app_id)) == owner
        with pytest.raises(psycopg.errors.UniqueViolation):
            await store.write(fails_then_reads)

        assert await store.write(lambda tx: tx.get_app(owner.app_id)) == owner

    run(make_pg_store(writers=1), scenario)
