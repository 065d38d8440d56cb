"""Instructions per request, counted by callgrind: a measure that a busy, shared machine does not disturb.

``python -m bench.count getvars`` (or ``ingest``) builds a SQLite deployment in a temporary directory (for getVars:
the bench's app, its content and ``--users`` users, made through a server as ``bench/run`` makes them), then runs
openplum in-process under ``valgrind --tool=callgrind`` twice, on fresh copies of that deployment: both runs make
the same ``--warm`` requests first, then ``--requests`` more in one and three times as many in the other. The
difference between the two, divided by the requests it is made of, is the steady-state cost of one request
(a getVars, or an ingest batch of 50 items), without start-up, imports, warm-up or the first time a cache fills.
The same inputs on the same build count the same, whatever else the machine runs. Keep the defaults or go larger:
with a few dozen requests the difference is not yet steady (first visits, caches filling).

It prints that total and the inclusive count per request of the functions of openplum's compiled modules (mypyc
names them ``CPyDef_<module>___<function>``; interpreted functions are not told apart). The total includes this
script's own work (choosing users, building ingest bodies, the event loop's turns), the same for every build:
compare builds by it, and read openplum's own share from its functions (``app_____call__`` on the event loop,
and for ingest ``api___work__run_Api_obj_____call__`` in the writer thread). Needs valgrind
(``apt-get install valgrind``); run it on the build under test (``scripts/install-server`` for the compiled one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import workload
from bench.deployment import APP_ID, KEYS, Deployment, sqlite_env
from bench.floor import _asgi, _ingest_body

_TASKS = 64
_LINE = re.compile(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+)")
_COMPILED = re.compile(r"CPyDef_(\w+)")


async def _drive(scenario: str, data_dir: Path, users: int, warm: int, requests: int) -> None:
    """The in-process run callgrind counts: ``warm`` requests, then ``requests`` more, from 64 tasks."""
    from openplum import collector
    from openplum.app import OpenplumApp
    from openplum.settings import from_env
    from openplum.store import open_store

    settings = from_env({**os.environ, "OPENPLUM_DATA_DIR": str(data_dir)})
    store = open_store(settings)
    app = OpenplumApp(settings, store=store)
    await store.start()
    collector.settle()
    rng = random.Random(7)
    clock = [workload.now_ms() - 30 * 86_400_000]
    prefix = (f"action=getVars&appId={APP_ID}&clientKey={KEYS['production']}&client=js&sdkVersion=1.9.0"
              "&includeDefaults=false")

    async def one() -> None:
        user = rng.randrange(users) + 1
        if scenario == "getvars":
            status = await _asgi(app, "/api", f"{prefix}&userId=u{user}&deviceId=d{user}", b"", "GET")
        else:
            clock[0] += 64
            query, body = _ingest_body(user, clock[0])
            status = await _asgi(app, "/api", query, body)
        if status != 200:
            raise RuntimeError(f"a {scenario} request was answered {status}")

    async def run(total: int) -> None:
        left = [total]

        async def task() -> None:
            while left[0] > 0:
                left[0] -= 1
                await one()

        await asyncio.gather(*(task() for _ in range(_TASKS)))

    try:
        await run(warm)
        await run(requests)
    finally:
        await store.close()


def _deploy(scenario: str, users: int, root: Path) -> Path:
    data, logs = root / "data", root / "logs"
    data.mkdir()
    logs.mkdir()
    dep = Deployment("sqlite", sqlite_env(data), logs)
    dep.create_app()
    if scenario == "getvars":
        dep.serve(1)
        try:
            dep.set_up_content()
            dep.populate(users)
        finally:
            dep.stop()
    return data


def _counts(path: Path) -> dict[str, int]:
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
                         capture_output=True, text=True, check=True).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        found = _LINE.match(line)
        if found is None:
            continue
        name = found.group(2)
        compiled = _COMPILED.search(name)
        key = "total" if name == "PROGRAM" else compiled.group(1) if compiled else ""
        if key:
            counts[key] = max(counts.get(key, 0), int(found.group(1).replace(",", "")))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.count", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["getvars", "ingest"])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--warm", type=int, help="requests before counting (default: 1500 getVars, 300 batches)")
    parser.add_argument("--requests", type=int, help="the smaller run's requests (default: 500 getVars, 100 batches)")
    parser.add_argument("--top", type=int, default=40, help="how many functions to list")
    parser.add_argument("--drive", nargs=2, metavar=("DATA_DIR", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warm = args.warm if args.warm is not None else (1500 if args.scenario == "getvars" else 300)
    if args.drive:
        asyncio.run(_drive(args.scenario, Path(args.drive[0]), args.users, warm, int(args.drive[1])))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        print("bench.count needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    small = args.requests if args.requests is not None else (500 if args.scenario == "getvars" else 100)
    sizes = (small, 3 * small)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="openplum-count-") as tmp:
        root = Path(tmp)
        data = _deploy(args.scenario, args.users, root)
        counted: list[dict[str, int]] = []
        for size in sizes:
            copy = root / f"run-{size}"
            shutil.copytree(data, copy)
            out = root / f"callgrind-{size}.out"
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m",
                            "bench.count", args.scenario, "--users", str(args.users), "--warm", str(warm),
                            "--drive", str(copy), str(size)], env=env, check=True, capture_output=True)
            counted.append(_counts(out))
    first, second = counted
    per = {k: (second.get(k, 0) - first.get(k, 0)) / (sizes[1] - sizes[0]) for k in second}
    unit = "getVars" if args.scenario == "getvars" else "ingest batch of 50 items"
    print(f"{per.pop('total'):,.0f} instructions per {unit} in all, this script's own work included "
          f"({args.users:,} users; counted in {time.monotonic() - began:.0f} s); of which:")
    for name, value in sorted(per.items(), key=lambda kv: -kv[1])[:args.top]:
        if value >= 500:
            print(f"{value:>12,.0f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
