"""The group-commit writer: a writer thread, its write connection, many requests per transaction.

Requests queue write functions; the writer takes everything waiting, runs them in one transaction, commits once,
then wakes every waiting request. A function that raises rolls back only its own writes: each runs inside its
own savepoint, except in a group of one (a failure rolls the whole transaction back) and in a group of
``Rehearsable`` functions, which may run again: they run without savepoints, and when one of them fails the
transaction is rolled back and the group runs again function by function in savepoints. A failed commit fails
every function of that group with a retryable error, so no request is acknowledged unless its writes are
durable.

The writer drives the transaction through its ``Tx`` (``SqlTx``): ``control`` for transaction statements, ``sync``
at the end of each request, ``finish`` to commit. On PostgreSQL those are held back and sent with the next
statement (a pipeline), so savepoints cost no round trip of their own.

Where several processes write one store (SQLite with several workers), ``turn`` makes them take turns: each
group's transaction runs inside it, so a writer waiting for another process's commit wakes when that commit
ends, rather than when its store's own retry next looks.
While ``rehearse`` says so, the group's ``Rehearsable`` jobs are first rehearsed outside the turn
(``store.rehearsal``), so that only their statements take turns.

A writer may have several lanes: threads that each take the next group from the same queue and commit it on
their own connection. SQLite has one (one writer per file); on PostgreSQL a lane spends most of its time
waiting for the server, so several lanes overlap those waits, as several processes would. Their transactions
may then lock the same rows. Each transaction first locks every user its requests named (``submit``'s
``users``) in one statement, so two groups never hold some of each other's users while waiting for the rest
(``_begin_group``). A request that locks users it did not name may still meet another transaction that way:
the one the server picks as a deadlock victim is answered as retryable (503), and its savepoint is rolled
back, so nothing of it stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Collection
from typing import Any, Generic, TypeVar

from openplum.errors import Overloaded, StoreUnavailable
from openplum.store.rehearsal import Call, NeedsTurn, Rehearsable, Rehearsal, replay

T = TypeVar("T")
C = TypeVar("C")
log = logging.getLogger("openplum.store")

_MAX_GROUP = 256
_LOCK_ATTEMPTS = 2
"""How many times a group's transaction tries to lock its users when that makes it a deadlock victim."""


class _Job:
    __slots__ = ("calls", "fn", "future", "loop", "ok", "outcome", "rehearsed", "users")

    def __init__(self, fn: Callable[[Any], Any], future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop,
                 users: Collection[tuple[str, str]] = ()):
        self.fn = fn
        self.users = users
        """The (app, user) pairs the job said it writes: locked for its whole group first (``Tx.lock_users``)."""
        self.future = future
        self.loop = loop
        self.ok = False
        self.outcome: Any = None
        self.calls: list[Call] | None = None
        """What a rehearsal of the job did (``store.rehearsal``); None when it was not rehearsed."""
        self.rehearsed: Any = None


def _resolve_all(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if job.ok:
            job.future.set_result(job.outcome)
        else:
            job.future.set_exception(job.outcome)


class _Lane(Generic[C]):
    """One writer thread and its connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.conn: C | None = None
        self.thread: threading.Thread | None = None


class GroupCommitWriter(Generic[C]):
    def __init__(
        self,
        *,
        connect: Callable[[], C],
        begin: str,
        make_tx: Callable[[C], Any],
        queue_limit: int,
        name: str,
        lanes: int = 1,
        retryable: Callable[[BaseException], bool] = lambda exc: False,
        turn: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
        rehearse: Callable[[], bool] = lambda: False,
    ) -> None:
        self._connect = connect
        self._turn = turn
        self._rehearse = rehearse
        self._begin = begin
        self._make_tx = make_tx
        self._limit = queue_limit
        self._retryable = retryable
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lanes: list[_Lane[C]] = [_Lane(name if i == 0 else f"{name}-{i}") for i in range(max(1, lanes))]

    def start(self) -> None:
        for lane in self._lanes:
            lane.thread = threading.Thread(target=self._run, args=(lane,), name=lane.name, daemon=True)
            lane.thread.start()

    def stop(self) -> None:
        for _ in self._lanes:
            self._queue.put(None)
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(timeout=30)

    async def submit(self, fn: Callable[[Any], T], users: Collection[tuple[str, str]] = ()) -> T:
        if self._queue.qsize() >= self._limit:
            raise Overloaded()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop, users))
        return await future

    # -- the writer threads --------------------------------------------------------------------------
    def _run(self, lane: _Lane[C]) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < _MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                group.append(nxt)
            self._commit_group(lane, group)
        self._close(lane)

    def _commit_group(self, lane: _Lane[C], group: list[_Job]) -> None:
        try:
            rehearsed = self._rehearse() and self._rehearse_group(lane, group)
            with self._turn():
                self._transact(lane, group, rehearsed)
        except Exception:
            log.exception("write transaction failed; %d request(s) answered as retryable", len(group))
            self._discard_connection(lane)
            for job in group:
                job.ok, job.outcome = False, StoreUnavailable()
        loops: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in group:
            loops.setdefault(job.loop, []).append(job)
        for loop, jobs in loops.items():  # one wake-up per event loop, not one per request
            loop.call_soon_threadsafe(_resolve_all, jobs)

    def _rehearse_group(self, lane: _Lane[C], group: list[_Job]) -> bool:
        """Rehearse the group's ``Rehearsable`` jobs in one read transaction, outside the turn; True when any
        job has a rehearsal to replay."""
        jobs = [(job, job.fn) for job in group if isinstance(job.fn, Rehearsable)]
        if not jobs:
            return False
        try:
            tx = self._make_tx(self._connection(lane))
            tx.control("BEGIN")
            try:
                for job, fn in jobs:
                    rehearsal = Rehearsal(tx)
                    try:
                        job.rehearsed = fn(rehearsal)
                    except Exception:  # NeedsTurn, or a failure the job will meet again in its turn
                        fn.discarded()
                        continue
                    job.calls = rehearsal.calls
            finally:
                tx.control("ROLLBACK")
        except Exception:  # the store itself failed: the turn will meet it again, or not
            log.debug("rehearsal failed; the group runs in its turn", exc_info=True)
            for job, fn in jobs:
                if job.calls is not None:
                    job.calls = None
                    fn.discarded()
            self._discard_connection(lane)
            return False
        return any(job.calls is not None for job, _ in jobs)

    def _transact(self, lane: _Lane[C], group: list[_Job], rehearsed: bool = False) -> None:
        tx = self._make_tx(self._connection(lane))
        users = sorted({pair for job in group for pair in job.users})
        self._begin_group(tx, users)
        if len(group) == 1 and not rehearsed:
            tx.finish("COMMIT" if self._run_alone(tx, group[0]) else "ROLLBACK")
            return
        if all(isinstance(job.fn, Rehearsable) for job in group):
            if self._run_unguarded(tx, group):
                tx.finish("COMMIT")
                return
            self._begin_group(tx, users)
        for job in group:
            self._run_job(tx, job)
        tx.finish("COMMIT")

    def _begin_group(self, tx: Any, users: list[tuple[str, str]]) -> None:
        """Begin the group's transaction and lock the users its jobs named, in a round trip of their own: sent
        with the first job's statements, a failure to lock would be that job's, and would leave the rest of
        the group without the savepoint it rolls back to. The lock is refused only to a deadlock victim:
        another transaction took its users one at a time (a job whose users were known only once it read a
        device's owner). This one holds nothing else yet, so it begins again; after ``_LOCK_ATTEMPTS`` it
        begins without the group's lock, and each job locks its own users as it runs."""
        for _ in range(_LOCK_ATTEMPTS):
            tx.control(self._begin)
            if not tx.lock_users(users):
                return
            try:
                tx.sync()
                return
            except Exception as exc:
                tx.finish("ROLLBACK")
                if not self._retryable(exc):
                    raise
        log.info("a commit group's users stayed locked by others; its requests lock their own users")
        tx.control(self._begin)

    def _run_unguarded(self, tx: Any, group: list[_Job]) -> bool:
        """Run a group of jobs that may run again without a savepoint each (a savepoint and its release cost
        about a tenth of an ingest batch on PostgreSQL); True when all of them succeeded. Otherwise (a job
        raised, a statement failed, a rehearsal no longer holds) the transaction is rolled back, every job
        that ran is told its run was thrown away, and the group runs again job by job in savepoints."""
        ran: list[_Job] = []
        try:
            for job in group:
                ran.append(job)
                if job.calls is None:
                    job.outcome = job.fn(tx)
                elif replay(tx, job.calls):
                    job.outcome = job.rehearsed
                else:
                    job.calls = None  # it will not hold the second time either: the job runs in its savepoint
                    raise NeedsTurn()
            tx.sync()
        except Exception:
            tx.drop_unsent()
            tx.finish("ROLLBACK")
            for job in ran:
                job.outcome = None
                fn = job.fn
                assert isinstance(fn, Rehearsable)
                fn.discarded()
            return False
        for job in group:
            job.ok = True
        return True

    def _run_alone(self, tx: Any, job: _Job) -> bool:
        """Run the group's only job; True when its transaction should be committed."""
        try:
            job.outcome = job.fn(tx)
            tx.sync()
            job.ok = True
        except Exception as exc:
            tx.drop_unsent()
            job.outcome = self._failure(exc)
        return job.ok

    def _run_job(self, tx: Any, job: _Job) -> None:
        tx.control("SAVEPOINT job")
        try:
            job.outcome = self._replayed(tx, job) if job.calls is not None else job.fn(tx)
            tx.sync()
            job.ok = True
        except Exception as exc:
            tx.drop_unsent()
            tx.control("ROLLBACK TO SAVEPOINT job")
            job.outcome = self._failure(exc)
        tx.control("RELEASE SAVEPOINT job")

    @staticmethod
    def _replayed(tx: Any, job: _Job) -> Any:
        """The rehearsed job's result when its replay holds; else it runs again from its savepoint."""
        fn = job.fn
        assert job.calls is not None
        assert isinstance(fn, Rehearsable)
        if replay(tx, job.calls):
            return job.rehearsed
        tx.control("ROLLBACK TO SAVEPOINT job")
        fn.discarded()
        return fn(tx)

    def _failure(self, exc: Exception) -> Exception:
        """What a failed job answers: the store's transient refusals (a deadlock victim) become retryable."""
        if self._retryable(exc):
            log.info("a write was chosen as a deadlock victim; answered as retryable")
            return StoreUnavailable()
        return exc

    def _connection(self, lane: _Lane[C]) -> C:
        if lane.conn is None:
            lane.conn = self._connect()
        return lane.conn

    @staticmethod
    def _discard_connection(lane: _Lane[C]) -> None:
        conn, lane.conn = lane.conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):  # the connection is being thrown away either way
            conn.execute("ROLLBACK")  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            conn.close()  # type: ignore[attr-defined]

    @staticmethod
    def _close(lane: _Lane[C]) -> None:
        if lane.conn is not None:
            lane.conn.close()  # type: ignore[attr-defined]
            lane.conn = None
