"""The scenarios: each is wrk runs against openplum, interleaved with runs against the ceiling, as one row.

Runs alternate (ceiling, openplum, ceiling, openplum ...) so that a noisy neighbour slows both alike; a row's
ratio is the median of the per-pair ratios.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import profile, workload, wrk
from bench.deployment import APP_ID, EXPORT_USERS, KEYS, Deployment, sqlite_env
from bench.others import Unleash
from bench.report import Row
from bench.servers import ROOT, Server

INGEST_USERS = 100_000
_WINDOW_MS = 10_000_000
"""Client time each ingest run may use (64 ms per request): runs never reuse a time, so nothing is a replay."""


@dataclass
class Bench:
    runs: int
    seconds: float
    tmp: Path
    profile: bool = False
    details: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    _windows: int = 0
    _items: Path | None = None

    def log(self, line: str) -> None:
        self.details.append(line)
        print(line, file=sys.stderr, flush=True)

    def ingest_args(self, users: int) -> list[str]:
        if self._items is None:
            self._items = self.tmp / "ingest-items.txt"
            self._items.write_text("\n".join(workload.ingest_prefixes(APP_ID, KEYS["production"])) + "\n")
        self._windows += 1
        first = workload.now_ms() - 30 * 86_400_000 + self._windows * _WINDOW_MS
        return [str(self._items), APP_ID, KEYS["production"], str(users), str(first), str(wrk.THREADS)]

    def measure(self, name: str, server: Server, ceiling: Server | None, script: str, args: list[str] | None,
                users: int, connections: int = wrk.CONNECTIONS, *, seconds: float | None = None,
                profile: bool = False, label: str = "openplum") -> tuple[list[wrk.Run], list[wrk.Run]]:
        """``runs`` pairs of (ceiling, server) runs; ``args`` None means fresh ingest arguments per run; ``label``
        names the server in the log."""
        mine: list[wrk.Run] = []
        theirs: list[wrk.Run] = []
        seconds = seconds or self.seconds
        for i in range(self.runs):
            if ceiling is not None:
                c = _timed(ceiling, script, args or self.ingest_args(users), seconds, connections)
                theirs.append(c)
                self.log(f"{name} run {i + 1} ceiling : {_show(c)}")
            r = _timed(server, script, args or self.ingest_args(users), seconds, connections)
            mine.append(r)
            self.log(f"{name} run {i + 1} {label}: {_show(r)}")
        if profile and self.profile:
            self._profile(name, server, script, args, users, connections)
        return mine, theirs

    def _profile(self, name: str, server: Server, script: str, args: list[str] | None, users: int,
                 connections: int) -> None:
        seconds = max(self.seconds, 5.0)
        out = self.tmp / f"profile-{len(self.profiles)}"
        spies = profile.start(server.workers(), seconds, out)
        time.sleep(0.5)
        run = wrk.run(server.url, script, args or self.ingest_args(users), seconds, connections)
        for spy in spies:
            spy.wait(timeout=seconds + 60)
        files = sorted(out.parent.glob(out.name + ".*.txt"))
        summary = profile.summarise(files, seconds) if files else "(py-spy wrote nothing)"
        self.profiles.append(f"### {name}\n\nwhile serving {run.rps:,.0f} req/s:\n\n```\n{summary}\n```\n")


def _timed(server: Server, script: str, args: list[str], seconds: float, connections: int) -> wrk.Run:
    """One wrk run, with the CPU the server used meanwhile."""
    before = server.cpu_seconds()
    run = wrk.run(server.url, script, args, seconds, connections)
    return dataclasses.replace(run, server_cpu=(server.cpu_seconds() - before) / run.seconds)


def _show(r: wrk.Run) -> str:
    return (f"{r.rps:9,.0f} req/s  p50 {r.p50_ms:7.1f} ms  p90 {r.p90_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms  "
            f"errors {r.errors}  server CPU {r.server_cpu:.2f} cores")


def _ingest_target(backend: str) -> tuple[str, object]:
    if backend == "SQLite":
        return "≥ 0.35 of ceiling events/s; p99 < 100 ms", lambda r: r.ratio >= 0.35 and r.p99 < 100
    return "≥ 60,000 events/s; p99 < 100 ms", lambda r: r.events >= 60_000 and r.p99 < 100


def ingest(bench: Bench, dep: Deployment, ceiling: Server, users: int = INGEST_USERS,
           scenario: str = "ingest") -> Row:
    assert dep.server is not None
    workers = len(dep.server.workers())
    name = f"{scenario} {dep.backend} x{workers} {users:,} users"
    mine, theirs = bench.measure(name, dep.server, ceiling, "ingest.lua", None, users,
                                 profile=not scenario.startswith("growth"))
    target, check = _ingest_target(dep.backend)
    row = Row(scenario, dep.backend, workers, users, workload.BATCH, mine, theirs, target, check)  # type: ignore[arg-type]
    row.rss_mib = dep.server.rss_mib()
    return row


def get_vars(bench: Bench, dep: Deployment, ceiling: Server, scenario: str = "getVars", users: int = 0) -> Row:
    """getVars for random users among the first ``users`` (default: all of the deployment's)."""
    assert dep.server is not None
    workers = len(dep.server.workers())
    users = users or dep.users
    args = ["getVars", APP_ID, KEYS["production"], str(users), "includeDefaults=false"]
    mine, theirs = bench.measure(f"{scenario} {dep.backend} x{workers} {users:,} users", dep.server, ceiling,
                                 "get.lua", args, users, profile=scenario == "getVars")
    row = Row(scenario, dep.backend, workers, users, 1, mine, theirs, "≥ 0.4 of ceiling req/s; p99 < 20 ms",
              lambda r: r.ratio >= 0.4 and r.p99 < 20)
    row.rss_mib = dep.server.rss_mib()
    return row


def get_vars_histories(bench: Bench, dep: Deployment, ceiling: Server) -> Row:
    """getVars for the users whose profiles hold 100 event names (``Deployment.give_histories``): what a profile
    with a history costs the read, beside the getVars row's users with one session each."""
    return get_vars(bench, dep, ceiling, "getVars: users with histories", users=min(EXPORT_USERS, dep.users))


def export_user(bench: Bench, dep: Deployment, ceiling_runs: list[wrk.Run], connections: int) -> Row:
    """exportUser of profiles with 100 event names; the ceiling is the small-GET one measured for getVars."""
    assert dep.server is not None
    workers = len(dep.server.workers())
    users = min(EXPORT_USERS, dep.users)
    args = ["exportUser", APP_ID, KEYS["dataExport"], str(users), ""]
    light = connections < wrk.CONNECTIONS  # the latency of one request at a time: shorter runs do
    mine, _ = bench.measure(f"exportUser {dep.backend} x{workers} c{connections}", dep.server, None, "get.lua",
                            args, users, connections, seconds=bench.seconds / 2 if light else None)
    theirs = [] if light else ceiling_runs
    row = Row("exportUser", dep.backend, workers, users, 1, mine, theirs, "p99 < 5 ms", lambda r: r.p99 < 5,
              connections=connections)
    row.rss_mib = dep.server.rss_mib()
    return row


def unleash(bench: Bench, other: Unleash, ceiling: Server) -> Row:
    """Unleash's frontend API for random users among ``other.users`` (``bench/others.py``), against the small-GET
    ceiling the getVars rows use: what another system answers for one user's flags and variants."""
    args = [other.frontend_token, str(other.users)]
    # V8 compiles hot code as it runs: Unleash's first seconds under load are slower, so one run is not kept.
    warm = wrk.run(other.server.url, "frontend.lua", args, min(max(bench.seconds, 3.0), 10.0))
    bench.log(f"{other.name} warm-up run (not kept): {warm.rps:9,.0f} req/s  p99 {warm.p99_ms:7.1f} ms")
    mine, theirs = bench.measure(f"{other.name} frontend API {other.users:,} users", other.server, ceiling,
                                 "frontend.lua", args, other.users, label="unleash")
    row = Row(f"other system: {other.name} frontend API (one user's flags)", "PostgreSQL", 1, other.users, 1, mine,
              theirs, "none: context for the getVars rows", None)
    row.rss_mib = other.server.rss_mib()
    row.notes.append(f"one Node.js process; a median answer of {other.answer_bytes:,.0f} bytes with "
                     f"{other.answer_flags:g} flags (its CPU column is Node's alone, not PostgreSQL's)")
    return row


def floor(bench: Bench, tmp: Path, ingest_row: Row, users: int = INGEST_USERS) -> Row:
    """SQLite alone committing what the ingest requests write (``bench/floor.py``), against the ingest row's ceiling:
    the most the ingest row could reach with the same store and schema, whatever the rest of the server costs."""
    dirs = [tmp / "floor-record", tmp / "floor-replay"]
    for d in dirs:
        Deployment("SQLite", sqlite_env(d), tmp).create_app()
    argv = [sys.executable, "-m", "bench.floor", "--data-dir", str(dirs[0]), "--replay-dir", str(dirs[1]),
            "--users", str(users), "--runs", str(bench.runs), "--batches", str(_floor_batches(bench.seconds))]
    done = subprocess.run(argv, env=sqlite_env(dirs[0]), cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"bench.floor failed: {done.stderr.strip()[-2000:]}")
    runs = []
    for line in done.stdout.splitlines():
        r = json.loads(line)
        run = wrk.Run(int(r["requests"]), r["seconds"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"], 0,
                      r["cpu"])
        runs.append(run)
        bench.log(f"floor SQLite run {r['run']}: {_show(run)}")
    return Row("floor: ingest's writes alone", "SQLite", 1, users, workload.BATCH, runs, ingest_row.ceiling,
               "none: bounds the ingest row (no HTTP, no parsing, no action logic)", None)


def _floor_batches(seconds: float) -> int:
    """Jobs per floor run: about ``seconds`` of work at a few hundred batches per second."""
    return max(500, int(seconds * 300))


def calibration(bench: Bench, ceiling: Server, busy: Server, busy_us: float) -> Row:
    """The null handler spinning ``busy_us`` of CPU per request against the plain one, with the getVars load: what
    the HTTP stack alone gives, in throughput and above all in p99 at 64 connections, at that cost per request."""
    args = ["getVars", APP_ID, KEYS["production"], "1000", "includeDefaults=false"]
    mine, theirs = bench.measure(f"calibration: null handler +{busy_us:g} us", busy, ceiling, "get.lua", args, 1000)
    return Row(f"calibration: null +{busy_us:g} µs CPU", "-", 1, 0, 1, mine, theirs,
               "none: the stack's own p99 at this cost per request", None)


def growth_check(rows: list[Row], reference: Row) -> None:
    """Growth rows meet their target when their ratio to the ceiling is within 20 % of the reference row's."""
    for row in rows:
        row.target = f"within 20 % of the {reference.users:,}-user row ({reference.ratio:.3f})"
        row.check = lambda r, ref=reference: abs(r.ratio - ref.ratio) <= 0.2 * max(r.ratio, ref.ratio)
