"""The group-commit writer: one thread, one write connection, many requests per transaction.

Requests queue write functions; the writer takes everything waiting, runs each inside its own savepoint of one
transaction, commits once, then wakes every waiting request. A function that raises rolls back only its own
savepoint. A failed commit fails every function of that group with a retryable error, so no request is
acknowledged unless its writes are durable. A group of one needs no savepoint: a failure rolls the whole
transaction back.

The writer drives the transaction through its ``Tx`` (``SqlTx``): ``control`` for transaction statements, ``sync``
at the end of each request, ``finish`` to commit. On PostgreSQL those are held back and sent with the next
statement (a pipeline), so savepoints cost no round trip of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from openplum.errors import Overloaded, StoreUnavailable

T = TypeVar("T")
C = TypeVar("C")
log = logging.getLogger("openplum.store")

_MAX_GROUP = 256


class _Job:
    __slots__ = ("fn", "future", "loop", "ok", "outcome")

    def __init__(self, fn: Callable[[Any], Any], future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.fn = fn
        self.future = future
        self.loop = loop
        self.ok = False
        self.outcome: Any = None


def _resolve(job: _Job) -> None:
    if job.future.done():
        return
    if job.ok:
        job.future.set_result(job.outcome)
    else:
        job.future.set_exception(job.outcome)


class GroupCommitWriter(Generic[C]):
    def __init__(
        self,
        *,
        connect: Callable[[], C],
        begin: str,
        make_tx: Callable[[C], Any],
        queue_limit: int,
        name: str,
    ) -> None:
        self._connect = connect
        self._begin = begin
        self._make_tx = make_tx
        self._limit = queue_limit
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._conn: C | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    async def submit(self, fn: Callable[[Any], T]) -> T:
        if self._queue.qsize() >= self._limit:
            raise Overloaded()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop))
        return await future

    # -- the writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
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
            self._commit_group(group)
        self._close()

    def _commit_group(self, group: list[_Job]) -> None:
        try:
            conn = self._connection()
            tx = self._make_tx(conn)
            tx.control(self._begin)
            if len(group) == 1:
                tx.finish("COMMIT" if self._run_alone(tx, group[0]) else "ROLLBACK")
            else:
                for job in group:
                    self._run_job(tx, job)
                tx.finish("COMMIT")
        except Exception:
            log.exception("write transaction failed; %d request(s) answered as retryable", len(group))
            self._discard_connection()
            for job in group:
                job.ok, job.outcome = False, StoreUnavailable()
        for job in group:
            job.loop.call_soon_threadsafe(_resolve, job)

    @staticmethod
    def _run_alone(tx: Any, job: _Job) -> bool:
        """Run the group's only job; True when its transaction should be committed."""
        try:
            job.outcome = job.fn(tx)
            tx.sync()
            job.ok = True
        except Exception as exc:
            tx.drop_unsent()
            job.outcome = exc
        return job.ok

    @staticmethod
    def _run_job(tx: Any, job: _Job) -> None:
        tx.control("SAVEPOINT job")
        try:
            job.outcome = job.fn(tx)
            tx.sync()
            job.ok = True
        except Exception as exc:
            tx.drop_unsent()
            tx.control("ROLLBACK TO SAVEPOINT job")
            job.outcome = exc
        tx.control("RELEASE SAVEPOINT job")

    def _connection(self) -> C:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):  # the connection is being thrown away either way
            conn.execute("ROLLBACK")  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            conn.close()  # type: ignore[attr-defined]

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # type: ignore[attr-defined]
            self._conn = None
