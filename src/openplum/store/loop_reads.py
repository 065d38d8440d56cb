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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg

from openplum.errors import StoreUnavailable
from openplum.store.sql import ReadAgain

T = TypeVar("T")

WAIT_SECONDS = 10.0
"""How long a read waits for a free connection before it is answered as a store outage (503)."""


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

    def __init__(self, conninfo: str, kwargs: dict[str, Any], size: int) -> None:
        self._conninfo = conninfo
        self._kwargs = kwargs
        self._size = size
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
        stand.answer = await self._fetch(*stand.asked)
        return fn(make_tx(stand))

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
                    cursor = await conn.execute(query, params)
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
