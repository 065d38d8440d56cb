"""PostgreSQL reads answered on the event loop: a read that needs one statement (a profile for ``getVars``, for
``exportUser``) runs without a thread.

Through the reader threads a read costs its caller two thread hand-offs, more CPU than psycopg's own work for
the statement (measured on 2 cores: about 400 µs of CPU per profile read through ``run_in_executor``, 200 µs on
an async connection). Reads are synchronous functions of a transaction (``fn(tx)``), so the loop runs one in
two passes: the first runs ``fn`` against a stand-in connection, which notes the first statement asked and
stops the read there; that statement runs on one of the loop's async connections; the second pass runs ``fn``
again with its answer. One statement in autocommit is consistent by itself. A read asking for a second
statement, or for a different one on its second pass, stops (``ReadAgain``) and the store runs it the full way.
A read may thus run up to three times: as every store's reads may (``ReadAgain``), it must have no effect but
its answer (``actions.runner`` drops the follow-ups a run that did not finish had queued).

Lookups by key that many requests make at once (a profile for each ``getVars``) share a statement: the reader is
given, for such a single-key statement, its form for many keys (the key column first, the last parameter an
array). Lookups asked during one turn of the loop wait for the next turn, then go as one statement, whose rows
are shared out by key. psycopg's cost per statement (and the server's) is then paid once per turn instead of
once per request; a lookup asked alone goes as its own statement, as before.

Rows come back in PostgreSQL's binary format: a profile (``bytea``) arrives as its bytes, where the text format
sends it hex-encoded for libpq to decode, which cost about half of psycopg's CPU for a shared lookup of 48
profiles (1.7 ms against 0.8). psycopg gives the same Python values either way for the types the store uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import psycopg

from openplum.errors import StoreUnavailable
from openplum.store.sql import ReadAgain

T = TypeVar("T")

WAIT_SECONDS = 10.0
"""How long a read waits for a free connection before it is answered as a store outage (503)."""
SHARED_KEYS = 256
"""The most keys one shared statement asks for; more waiting lookups go as several statements."""


class _Asked(ReadAgain):
    """The first pass reached its statement (a ``ReadAgain``, so nothing in the read can swallow it)."""


class _Rows:
    """The answer to the one statement, as the cursor the transaction code reads it through."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class _Stand:
    """The connection a pass runs against: it notes the first statement asked, and later answers that one."""

    def __init__(self) -> None:
        self.asked: tuple[str, tuple[Any, ...]] | None = None
        self.answer: _Rows | None = None

    def execute(self, query: str, params: Sequence[Any] = ()) -> _Rows:
        statement = (query, tuple(params))
        if self.asked is None:
            self.asked = statement
            raise _Asked()
        if self.answer is not None and statement == self.asked:
            return self.answer
        raise ReadAgain()


class LoopReader:
    """Up to ``size`` async connections, opened on first use on the loop that opened the reader."""

    def __init__(self, conninfo: str, kwargs: dict[str, Any], size: int, shared: Mapping[str, str] = {}) -> None:
        """``shared`` maps a single-key statement to its form for many keys (see the module's documentation)."""
        self._conninfo = conninfo
        self._kwargs = kwargs
        self._size = size
        self._shared = dict(shared)
        self._single = {many: one for one, many in shared.items()}
        self._sending: set[asyncio.Task[None]] = set()
        self._waiting: dict[tuple[str, tuple[Any, ...]], dict[Any, list[asyncio.Future[_Rows]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._opened: set[psycopg.AsyncConnection[Any]] = set()

    def open(self) -> None:
        """Bind to the running loop: ``size`` slots, each with a connection once first used. Reads take the slots
        in the order they asked (``asyncio.Semaphore`` is fair): a read arriving just as a slot frees does not
        overtake one already waiting, which left some reads waiting for many turns (p99 at five times p50)."""
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self._size)

    def serves(self) -> bool:
        """Whether a read from here can use the reader: only on the loop that opened it."""
        if self._loop is None:
            return False
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def close(self) -> None:
        self._slots, self._loop, self._idle = None, None, []
        opened, self._opened = self._opened, set()
        for conn in opened:
            await conn.close()

    async def read(self, fn: Callable[[Any], T], make_tx: Callable[[Any], Any]) -> T:
        """``fn`` in two passes around its one statement; ``ReadAgain`` when it needs more than that one."""
        stand = _Stand()
        try:
            return fn(make_tx(stand))  # a read that asks for nothing (an app already cached) ends here
        except _Asked:
            pass
        assert stand.asked is not None
        query, params = stand.asked
        many = self._shared.get(query)
        stand.answer = await (self._share(many, params) if many is not None else self._fetch(query, params))
        return fn(make_tx(stand))

    def _share(self, many: str, params: tuple[Any, ...]) -> asyncio.Future[_Rows]:
        """The rows for ``params``'s key, from the statement this turn's lookups of ``many`` will share."""
        assert self._loop is not None
        group = (many, params[:-1])
        waiting = self._waiting.get(group)
        if waiting is None:
            waiting = self._waiting[group] = {}
            self._loop.call_soon(self._send_shared, group)
        future: asyncio.Future[_Rows] = self._loop.create_future()
        waiting.setdefault(params[-1], []).append(future)
        return future

    def _send_shared(self, group: tuple[str, tuple[Any, ...]]) -> None:
        assert self._loop is not None
        waiting = self._waiting.pop(group)
        keys = list(waiting)
        for at in range(0, len(keys), SHARED_KEYS):
            chunk = {key: waiting[key] for key in keys[at:at + SHARED_KEYS]}
            task = self._loop.create_task(self._answer_shared(group, chunk))
            self._sending.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._sending.discard)

    async def _answer_shared(
        self, group: tuple[str, tuple[Any, ...]], waiting: dict[Any, list[asyncio.Future[_Rows]]]
    ) -> None:
        many, head = group
        try:
            if len(waiting) == 1:  # alone this turn: its own statement, as a lookup that is never shared
                (key,) = waiting
                answers = {key: await self._fetch(self._single[many], (*head, key))}
            else:
                found = await self._fetch(many, (*head, list(waiting)))
                by_key: dict[Any, list[Any]] = {key: [] for key in waiting}
                for row in found.fetchall():
                    rows = by_key.get(row[0])
                    if rows is not None:  # always, as user ids compare exactly; never a KeyError for all waiting
                        rows.append(row[1:])
                answers = {key: _Rows(rows, len(rows)) for key, rows in by_key.items()}
        except Exception as exc:  # every lookup waiting on the statement gets its failure
            _fail(waiting, exc)
            return
        except BaseException:
            _fail(waiting, StoreUnavailable())
            raise
        for key, futures in waiting.items():
            for future in futures:
                if not future.done():  # a request that stopped waiting (its client left) is skipped
                    future.set_result(answers[key])

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> _Rows:
        """The statement's rows, on a free connection. A connection that was lost while idle (the server
        restarted, a proxy closed it) is replaced and the statement sent again, once: a read has no effects."""
        slots = self._slots
        assert slots is not None, "reader not open"
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await slots.acquire()
        except TimeoutError:
            raise StoreUnavailable() from None
        conn = self._idle.pop() if self._idle else None
        try:
            for attempt in (1, 2):
                reused = conn is not None
                try:
                    if conn is None:
                        conn = await asyncio.wait_for(
                            psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs), WAIT_SECONDS
                        )
                        self._opened.add(conn)
                    cursor = await conn.execute(query, params, binary=True)  # see the module's documentation
                    rows = await cursor.fetchall() if cursor.description is not None else []
                    return _Rows(rows, cursor.rowcount)
                except (psycopg.OperationalError, TimeoutError) as exc:
                    await self._discard(conn)
                    conn = None
                    if not reused or attempt == 2:
                        raise StoreUnavailable() from exc
                except asyncio.CancelledError:  # a statement may still be in flight: the connection is unusable
                    await self._discard(conn)
                    conn = None
                    raise
            raise AssertionError("unreachable")
        finally:
            if conn is not None and conn.broken:
                await self._discard(conn)
            elif conn is not None:
                self._idle.append(conn)
            slots.release()  # a slot without an idle connection opens a new one on its next use

    async def _discard(self, conn: psycopg.AsyncConnection[Any] | None) -> None:
        if conn is not None:
            self._opened.discard(conn)
            await conn.close()


def _fail(waiting: dict[Any, list[asyncio.Future[_Rows]]], exc: Exception) -> None:
    for futures in waiting.values():
        for future in futures:
            if not future.done():
                future.set_exception(exc)
