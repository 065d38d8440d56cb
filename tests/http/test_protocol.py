"""The serving protocol: every write reaches the client, in order, whole; each connection's writes of one turn of
the event loop go out as one. Over real loopback sockets, with uvicorn running ``HeldWritesProtocol``."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import uvicorn

from openplum.http.protocol import HOLD_LIMIT, HeldTransport, HeldWritesProtocol

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

BIG = HOLD_LIMIT * 4


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/small``: one start and one body; ``/stream``: many chunks in one turn; ``/slow``: the headers, a
    pause, then the body."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(BIG).encode())]})
        chunk = b"x" * 1024
        for _ in range(BIG // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = path.encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path == "/slow":
        await asyncio.sleep(0.3)
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free, log_level="warning", lifespan="off",
                                           http=HeldWritesProtocol))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert thread.is_alive(), "the test server did not start"
        assert time.time() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield free
    server.should_exit = True
    thread.join(timeout=30)


def _exchange(port: int, raw: bytes, *, until: bytes | None = None, size: int | None = None) -> bytes:
    """Send ``raw`` and read until ``until`` appears ``raw.count(b"GET")`` times, ``size`` bytes came, or EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        got = b""
        while True:
            if until is not None and got.count(until) >= raw.count(b"GET "):
                return got
            if size is not None and len(got) >= size:
                return got
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk


def _get(path: str, *, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + connection + b"\r\n"


def test_a_response_arrives_whole(port: int) -> None:
    got = _exchange(port, _get("/small"), until=b"/small")
    assert got.startswith(b"HTTP/1.1 200 OK\r\n")
    assert got.endswith(b"\r\n\r\n/small")


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    got = _exchange(port, _get("/small") + _get("/slow") + _get("/small", close=True))
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in got.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert bodies == [b"/small", b"/slow", b"/small"]


def test_a_close_sends_what_was_written_first(port: int) -> None:
    got = _exchange(port, _get("/small", close=True))  # read to EOF: the server closes after answering
    assert got.endswith(b"\r\n\r\n/small")


def test_a_streamed_body_past_the_hold_limit_arrives_whole(port: int) -> None:
    got = _exchange(port, _get("/stream", close=True))
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b"x" * BIG


def test_headers_are_not_held_while_the_app_waits_for_its_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_get("/slow"))
        first = sock.recv(65536)  # held until the body, the headers would come with it
        assert first.startswith(b"HTTP/1.1 200 OK")
        assert first.endswith(b"\r\n\r\n")
        assert sock.recv(65536) == b"/slow"


class _Recorder(asyncio.Transport):
    """Records what reaches the socket's transport."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def _busy(loop: asyncio.AbstractEventLoop) -> None:
    """Another callback waiting to run in this turn, as under load."""
    loop.call_soon(lambda: None)


def test_a_write_with_nothing_else_to_run_goes_out_at_once() -> None:
    async def scenario() -> list[bytes]:
        recorder = _Recorder()
        HeldTransport(recorder, asyncio.get_running_loop()).write(b"answer")
        return recorder.writes

    assert asyncio.run(scenario()) == [b"answer"]


def test_one_turn_of_writes_is_one_write_per_connection() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        loop = asyncio.get_running_loop()
        _busy(loop)
        a, b = _Recorder(), _Recorder()
        held_a, held_b = HeldTransport(a, loop), HeldTransport(b, loop)
        held_a.write(b"head-a;")
        held_b.write(b"head-b;")
        held_a.write(b"body-a")
        held_b.writelines([b"body-b", b"!"])
        during = a.writes + b.writes
        await asyncio.sleep(0)  # the turn ends
        return during, a.writes, b.writes

    during, a, b = asyncio.run(scenario())
    assert during == []
    assert a == [b"head-a;body-a"]
    assert b == [b"head-b;body-b!"]


def test_close_sends_held_writes_and_abort_drops_them() -> None:
    async def scenario() -> tuple[_Recorder, _Recorder]:
        loop = asyncio.get_running_loop()
        _busy(loop)
        closing, aborting = _Recorder(), _Recorder()
        held_close, held_abort = HeldTransport(closing, loop), HeldTransport(aborting, loop)
        held_close.write(b"answer")
        held_abort.write(b"answer")
        held_close.close()
        held_abort.abort()
        await asyncio.sleep(0)
        return closing, aborting

    closing, aborting = asyncio.run(scenario())
    assert closing.writes == [b"answer"]
    assert closing.closed
    assert aborting.writes == []
    assert aborting.aborted
