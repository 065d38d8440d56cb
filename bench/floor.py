"""The storage floor of the ingest scenario: SQLite alone committing what ingest requests write.

``python -m bench.floor --data-dir D --replay-dir E --users N --batches B --runs R`` (run by ``bench/run`` after the
ingest row; D and E are fresh SQLite deployments whose app exists). It has two steps:

1. **Record.** A few hundred ingest requests, shaped as ``bench/lua/ingest.lua`` sends them, go through openplum
   itself in this process (its ASGI app on a store that records every call a write job makes on its
   transaction: the profile read, the replay keys' claim, the profile, event, state and session writes).
2. **Replay.** On a second, fresh store, 64 tasks submit those jobs again through the store's group-commit writer,
   each job making the same calls with the same rows, for users spread over ``--users``, with fresh ids and
   keys (nothing collides with an earlier row) and with its times moved on. Nothing else runs: no HTTP, no
   parsing, no action logic.

Each run prints one JSON line: batches committed, seconds, CPU used, and the p50/p90/p99/max of a job's wait for
its commit. What the store alone commits per second is an upper bound for the ingest row on the same machine:
the server does all of this and more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, ItemsView
from pathlib import Path
from typing import Any

import msgspec

from bench import workload
from bench.deployment import APP_ID, KEYS
from openplum.app import OpenplumApp
from openplum.settings import from_env
from openplum.store import open_store

_ID_FLOOR = 1 << 40
"""Integers at least this large in a recorded call are random ids (events, states, sessions): replaced."""
_TIMES = 1e9
"""Floats at least this large are times (an event's, the server's clock): each replay moves them on by ``_STEP``
times its number, so times keep increasing as under real traffic (indexes on time grow at their end)."""
_STEP = 0.01
_KEY_BYTES = 16
"""Replay keys are 16 bytes (a 4-byte user prefix, then a 12-byte digest): the digest is replaced."""

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class _Recorder:
    """Stands for a transaction: forwards every call and records it."""

    def __init__(self, tx: Any, calls: list[Call]) -> None:
        self._tx, self._calls = tx, calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._tx, name)
        if not callable(method):
            return method

        def recorded(*args: Any, **kwargs: Any) -> Any:
            kept = tuple(list(a) if isinstance(a, list | tuple | ItemsView) else a for a in args)  # not live views
            self._calls.append((name, kept, kwargs))
            return method(*args, **kwargs)

        return recorded


class _RecordingStore:
    """The real store, with every write job's calls kept in ``jobs``."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.jobs: list[list[Call]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def write(self, fn: Callable[[Any], Any]) -> Any:
        calls: list[Call] = []

        def job(tx: Any) -> Any:
            calls.clear()  # a job the writer runs again starts its record again
            return fn(_Recorder(tx, calls))

        out = await self._store.write(job)
        self.jobs.append(calls)
        return out


async def _asgi(app: OpenplumApp, path: str, query: str, body: bytes, method: str = "POST") -> int:
    """One request through the ASGI app; its status. An empty body is sent as none (no content headers)."""
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())] if body else []
    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(), "scheme": "http",
             "headers": headers, "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "root_path": "",
             "http_version": "1.1"}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def _ingest_body(user: int, first_ms: int) -> tuple[str, bytes]:
    """A request as ingest.lua builds it."""
    items = []
    for i in range(workload.BATCH):
        item = workload.ingest_item(APP_ID, KEYS["production"], i)
        ms = first_ms + i + 1
        items.append({**item, "deviceId": f"d{user}", "userId": f"u{user}", "time": f"{ms // 1000}.{ms % 1000:03d}"})
    last = first_ms + workload.BATCH
    query = (f"appId={APP_ID}&client=js&clientKey={KEYS['production']}&sdkVersion=1.9.0&action=multi"
             f"&time={last // 1000}.{last % 1000:03d}")
    return query, msgspec.json.encode({"data": items})


async def record(data_dir: Path, requests: int) -> list[list[Call]]:
    settings = from_env({**os.environ, "OPENPLUM_DATA_DIR": str(data_dir)})
    store = _RecordingStore(open_store(settings))
    app = OpenplumApp(settings, store=store)
    await store.start()
    try:
        first = workload.now_ms() - 60 * 86_400_000
        for n in range(requests):
            query, body = _ingest_body(n + 1, first + n * 64)
            status = await _asgi(app, "/api", query, body)
            if status != 200:
                raise RuntimeError(f"recording: an ingest request was answered {status}")
    finally:
        await store.close()
    return [job for job in store.jobs if any(name == "insert_events" for name, _, _ in job)]


def _swap(value: Any, mapping: dict[Any, Any], fresh: Callable[[Any], Any]) -> Any:
    """``value`` with its ids, keys and user names replaced, the same replacement for the same old value."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | str | bytes):
        if value in mapping:
            return mapping[value]
        new = fresh(value)
        if new is not value:
            mapping[value] = new
        return new
    if isinstance(value, list):
        return [_swap(v, mapping, fresh) for v in value]
    if isinstance(value, tuple):
        return tuple(_swap(v, mapping, fresh) for v in value)
    if isinstance(value, dict):
        return {k: _swap(v, mapping, fresh) for k, v in value.items()}
    if isinstance(value, msgspec.Struct):
        changes = {f: _swap(getattr(value, f), mapping, fresh) for f in value.__struct_fields__}
        return msgspec.structs.replace(value, **changes)
    return value


def replays(jobs: list[list[Call]], first: int, batches: int, users: int, rng: random.Random) -> list[list[Call]]:
    """Replays ``first`` .. ``first + batches - 1`` of the recorded jobs, each for a random user among ``users``,
    with fresh ids and keys, and times moved on by its number."""
    out = []
    for n in range(first, first + batches):
        template = jobs[n % len(jobs)]
        user = rng.randrange(1, users + 1)

        def fresh(old: Any, user: int = user, shift: float = n * _STEP) -> Any:
            if isinstance(old, float) and old >= _TIMES:
                return old + shift
            if isinstance(old, int) and old >= _ID_FLOOR:
                return rng.getrandbits(63) or 1
            if isinstance(old, bytes) and len(old) == _KEY_BYTES:
                return old[:4] + rng.randbytes(_KEY_BYTES - 4)
            if isinstance(old, str) and old[:1] in ("u", "d") and old[1:].isdigit():
                return f"{old[0]}{user}"
            return old

        mapping: dict[Any, Any] = {}
        out.append([(name, _swap(args, mapping, fresh), kwargs) for name, args, kwargs in template])
    return out


async def replay(data_dir: Path, work: list[list[Call]], connections: int) -> dict[str, float]:
    settings = from_env({**os.environ, "OPENPLUM_DATA_DIR": str(data_dir)})
    store = open_store(settings)
    await store.start()
    pending = iter(work)
    waits: list[float] = []

    def job(calls: list[Call]) -> Callable[[Any], None]:
        def run(tx: Any) -> None:
            for name, args, kwargs in calls:
                out = getattr(tx, name)(*args, **kwargs)
                if callable(out):
                    out()  # claim_keys_soon answers when asked
        return run

    async def submitter() -> None:
        for calls in pending:
            began = time.perf_counter()
            await store.write(job(calls))
            waits.append(time.perf_counter() - began)

    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        began = time.perf_counter()
        tasks: list[Awaitable[None]] = [submitter() for _ in range(connections)]
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await store.close()
    cpu = (after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime) / seconds
    q = statistics.quantiles([w * 1000 for w in waits], n=100)
    return {"requests": len(waits), "seconds": seconds, "cpu": cpu, "p50_ms": q[49], "p90_ms": q[89],
            "p99_ms": q[98], "max_ms": max(waits) * 1000}


async def main(args: argparse.Namespace) -> None:
    jobs = await record(args.data_dir, args.record)
    if not jobs:
        raise RuntimeError("recording: no write job inserted events")
    rng = random.Random(args.seed)
    for n in range(args.runs):
        work = replays(jobs, n * args.batches, args.batches, args.users, rng)
        result = await replay(args.replay_dir, work, args.connections)
        result["run"] = n + 1
        print(json.dumps(result), flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a SQLite deployment whose app exists (recording)")
    parser.add_argument("--replay-dir", type=Path, required=True, help="a fresh SQLite deployment whose app exists")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--record", type=int, default=200, help="ingest requests recorded")
    parser.add_argument("--batches", type=int, default=3000, help="jobs committed per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64, help="jobs in flight")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
