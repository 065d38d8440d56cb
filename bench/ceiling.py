"""The ceiling: a null ASGI handler on openplum's HTTP stack (uvicorn, uvloop, httptools, msgspec).

It reads the whole request body and decodes it with msgspec, as ``/api`` does, then answers a fixed small JSON
envelope; a GET is answered without parsing anything. Whatever openplum does beyond this is its own cost.
Run as ``python -m bench.ceiling --port P --workers N`` from the repository root.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import uvicorn

_BODY = b'{"response":[{"success":true}]}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]
_decode = msgspec.json.decode


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
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.ceiling:app", host="127.0.0.1", port=args.port, workers=args.workers, loop="uvloop",
        http="httptools", lifespan="off", access_log=False, log_level="warning",
    )


if __name__ == "__main__":
    main()
