"""The HTTP/1.1 protocol openplum serves with: uvicorn's httptools protocol, with writes held to the end of the
event loop's turn when the loop is busy.

uvicorn writes a response's status line and headers when the app starts the response, then its body: two
system calls per response, each of which may wake the client's reader. Under load one turn of the event loop
answers many requests, so each connection's writes are held in the loop's outbox and sent when the turn ends:
one write per connection per turn, and a client woken once for a burst of answers instead of twice per answer.
When nothing else is waiting to run (an idle server, one request at a time) a write goes out at once: holding it
would only cost another turn of the loop.

Measured with the benchmark's getVars load on 2 cores (``bench/``, wrk at 64 connections, alternated runs):
38 % more requests per second for the same CPU, p99 down by a quarter; at one connection, no change. The null
handler the benchmark compares with runs on this protocol too, and gained about 8 %.

Nothing is held longer than the rest of its turn: the outbox is sent by the first callback of the next turn,
before any request that arrived since runs. A connection that writes more than ``HOLD_LIMIT`` bytes in one turn
(a streamed export) has them sent at once, so uvicorn's flow control sees the socket's real buffer. A close sends
what is held first; an abort drops it, as it drops the socket's buffer.

Whether anything else waits in the turn comes from ``loop_queue``; on a loop that does not show its queue (uvloop)
writes are always held to the end of the turn.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from openplum.loop_queue import nothing_else_waits, ready_queue

HOLD_LIMIT = 64 * 1024
"""Bytes one connection may have held in one turn; past it they are written at once."""


class _Outbox:
    """What one event loop's connections wrote during the current turn, each connection's joined."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: dict[asyncio.Transport, bytearray] = {}
        self._pending = ready_queue(loop)
        """The loop's queue of callbacks still to run (asyncio's own loop has one; uvloop shows none)."""

    def write(self, transport: asyncio.Transport, data: bytes | bytearray | memoryview) -> None:
        held = self._held.get(transport)
        if held is None and nothing_else_waits(self._pending):
            transport.write(data)  # nothing else will run before the loop waits: holding saves no wake-up
            return
        if held is None:
            if not self._held:
                self._loop.call_soon(self.send_all)
            self._held[transport] = held = bytearray(data)
        else:
            held += data
        if len(held) > HOLD_LIMIT:
            self.send(transport)

    def send(self, transport: asyncio.Transport) -> None:
        held = self._held.pop(transport, None)
        if held and not transport.is_closing():
            transport.write(held)

    def drop(self, transport: asyncio.Transport) -> None:
        self._held.pop(transport, None)

    def send_all(self) -> None:
        held, self._held = self._held, {}
        for transport, data in held.items():
            if not transport.is_closing():
                transport.write(data)


_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = weakref.WeakKeyDictionary()


def _outbox(loop: asyncio.AbstractEventLoop) -> _Outbox:
    found = _outboxes.get(loop)
    if found is None:
        found = _outboxes[loop] = _Outbox(loop)
    return found


class HeldTransport:
    """A transport whose writes go through its event loop's outbox; everything else is the socket's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._outbox = _outbox(loop)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._outbox.write(self._transport, data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def write_eof(self) -> None:
        self._outbox.send(self._transport)
        self._transport.write_eof()

    def close(self) -> None:
        self._outbox.send(self._transport)
        self._transport.close()

    def abort(self) -> None:
        self._outbox.drop(self._transport)
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeldWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through the event loop's outbox."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeldTransport(transport, self.loop))  # type: ignore[arg-type]
