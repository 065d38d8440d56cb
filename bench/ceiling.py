"""The ceiling: a null ASGI handler on openplum's HTTP stack (uvicorn, httptools, the same event loop, msgspec,
and openplum's protocol, which sends each connection's writes at the end of the event loop's turn).

It reads the whole request body and decodes it with msgspec, as ``/api`` does, then answers a fixed small JSON
envelope; a GET is answered without parsing anything. Whatever openplum does beyond this is its own cost.
Run as ``python -m bench.ceiling --port P --workers N`` from the repository root.

With ``--busy-us U`` every request also spins U microseconds of CPU before it answers: a calibration, showing the
latency this stack gives at a request cost like openplum's with nothing else of openplum in the way.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import uvicorn

from openplum.http.protocol import HeldWritesProtocol

_BODY = b'{"response":[{"success":true}]}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]
_decode = msgspec.json.decode
_BUSY = float(os.environ.get("BENCH_CEILING_BUSY_US", "0")) / 1e6
"""Seconds of CPU each request spins (``--busy-us``; passed to uvicorn's workers through the environment)."""


async def app(
    scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        _decode(b"".join(chunks))
    if _BUSY:
        until = time.perf_counter() + _BUSY
        while time.perf_counter() < until:
            pass
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"],
                        help="the event loop (openplum's OPENPLUM_EVENT_LOOP; asyncio by default, as openplum's)")
    parser.add_argument("--busy-us", type=float, default=0.0, help="CPU each request spins, in microseconds")
    args = parser.parse_args()
    os.environ["BENCH_CEILING_BUSY_US"] = str(args.busy_us)
    uvicorn.run(
        "bench.ceiling:app", host="127.0.0.1", port=args.port, workers=args.workers, loop=args.loop,
        http=HeldWritesProtocol, lifespan="off", access_log=False, log_level="warning",
    )


if __name__ == "__main__":
    main()
