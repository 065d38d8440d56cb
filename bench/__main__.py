"""``python -m bench`` (what ``bench/run`` runs): every scenario on SQLite, then on PostgreSQL, against the
ceiling measured in the same run; the table goes to stdout and to ``bench/results/latest.md``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import others, report, scenarios
from bench.deployment import Deployment, drop_schema, postgres_env, sqlite_env
from bench.report import Row
from bench.scenarios import Bench
from bench.servers import Server

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


CALIBRATION_US = 100.0
"""CPU per request of the calibration row: about what openplum spends on a getVars."""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s per scenario, 10,000 users: a smoke test")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 3, --quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per run (default 10, --quick 3)")
    parser.add_argument("--users", type=int, help="users created before the getVars and growth scenarios "
                        "(default 100,000 on SQLite, 10,000 on PostgreSQL; --quick 10,000 and 2,000)")
    parser.add_argument("--million", action="store_true", help="also the growth scenarios at 1,000,000 users "
                        "(creating them takes several minutes)")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="one backend only")
    parser.add_argument("--profile", action="store_true", help="after each ingest and getVars scenario, one more "
                        "run under py-spy (needs .venv/bin/pip install py-spy); summaries go into the results")
    parser.add_argument("--database-url", default=os.environ.get("OPENPLUM_BENCH_DATABASE_URL", DEFAULT_URL),
                        help="PostgreSQL server for the PostgreSQL scenarios (a fresh schema is created and dropped)")
    parser.add_argument("--no-others", action="store_true", help="leave out the other systems (Unleash 6's "
                        "frontend API, installed with npm), measured by default after the PostgreSQL rows")
    return parser.parse_args(argv)


def _prepare(bench: Bench, dep: Deployment, users: int, *, histories: bool) -> None:
    dep.create_app()
    dep.serve(1)
    dep.set_up_content()
    took = dep.populate(users)
    bench.log(f"{dep.backend}: {users:,} users started in {took:.1f} s")
    if histories:
        dep.give_histories()


def _ceiling(bench: Bench, ceilings: dict[int, Server], workers: int) -> Server:
    """The ceiling with ``workers`` workers, started on first use and kept for the rest of the run."""
    if workers not in ceilings:
        ceilings[workers] = Server.ceiling(workers, bench.tmp / f"ceiling-{workers}.log").start()
    return ceilings[workers]


def _before_ingest(bench: Bench, dep: Deployment, ceilings: dict[int, Server]) -> list[Row]:
    """getVars and exportUser (64 connections) with 2 workers, measured on the same data as the 1-worker rows:
    before any ingest, then back to 1 worker for it. After an ingest run the same reads are slower for a while,
    not for the number of workers (bench/README.md, "getVars with 2 workers")."""
    dep.serve(2)
    get_vars = scenarios.get_vars(bench, dep, _ceiling(bench, ceilings, 2))
    rows = [get_vars, scenarios.export_user(bench, dep, get_vars.ceiling, 64)]
    dep.serve(1)
    return rows


def sqlite_rows(bench: Bench, ceilings: dict[int, Server], users: int, million: bool) -> list[Row]:
    ceiling = ceilings[1]
    dep = Deployment("SQLite", sqlite_env(bench.tmp / "sqlite-main"), bench.tmp)
    try:
        _prepare(bench, dep, users, histories=True)
        get_vars = scenarios.get_vars(bench, dep, ceiling)
        rows = [get_vars, scenarios.get_vars_histories(bench, dep, ceiling),
                scenarios.export_user(bench, dep, get_vars.ceiling, 64),
                scenarios.export_user(bench, dep, [], 1)]
        # Reads scale with processes (SQLite serves readers in parallel): getVars and exportUser with both
        # cores' workers, against the ceiling with as many. Writes take turns at the one file
        # (store/write_turns.py), so ingest with 2 workers shows what a second process adds around them.
        reads_2 = _before_ingest(bench, dep, ceilings)
        ingest = scenarios.ingest(bench, dep, ceiling)
        rows += [ingest, *reads_2]
        dep.serve(2)
        rows.append(scenarios.ingest(bench, dep, _ceiling(bench, ceilings, 2)))
    finally:
        dep.stop()
    rows.append(scenarios.floor(bench, bench.tmp, ingest))
    for size in [1_000, *([1_000_000] if million else [])]:
        small = Deployment("SQLite", sqlite_env(bench.tmp / f"sqlite-{size}"), bench.tmp)
        try:
            _prepare(bench, small, size, histories=False)
            grown = [scenarios.get_vars(bench, small, ceiling, "growth: getVars")]
            scenarios.growth_check(grown, get_vars)
            ingested = [scenarios.ingest(bench, small, ceiling, users=size, scenario="growth: ingest")]
            scenarios.growth_check(ingested, ingest)
            rows += grown + ingested
        finally:
            small.stop()
            shutil.rmtree(bench.tmp / f"sqlite-{size}", ignore_errors=True)
    return rows


def postgres_rows(bench: Bench, ceilings: dict[int, Server], url: str, users: int) -> list[Row]:
    env, schema = postgres_env(url)
    dep = Deployment("PostgreSQL", env, bench.tmp)
    try:
        _prepare(bench, dep, users, histories=True)
        get_vars = scenarios.get_vars(bench, dep, ceilings[1])
        rows = [get_vars, scenarios.get_vars_histories(bench, dep, ceilings[1]),
                scenarios.export_user(bench, dep, get_vars.ceiling, 64),
                scenarios.export_user(bench, dep, [], 1)]
        reads_2 = _before_ingest(bench, dep, ceilings)
        rows += [scenarios.ingest(bench, dep, ceilings[1]), *reads_2]
        dep.serve(2)
        rows.append(scenarios.ingest(bench, dep, _ceiling(bench, ceilings, 2)))
        return rows
    finally:
        dep.stop()
        drop_schema(url, schema)


def other_rows(bench: Bench, ceilings: dict[int, Server], url: str, users: int) -> list[Row]:
    """The other systems on the same PostgreSQL, against the 1-worker ceiling; none when they cannot run here."""
    try:
        with others.unleash(url, bench.tmp, users) as unleash:
            bench.log(f"{unleash.name}: content set up; a median answer of {unleash.answer_bytes:,.0f} bytes, "
                      f"{unleash.answer_flags:g} flags")
            return [scenarios.unleash(bench, unleash, ceilings[1])]
    except RuntimeError as why:  # Unavailable, or Unleash failed to start, set up or answer
        bench.log(f"other systems left out: {why}")
        log = bench.tmp / others.LOG
        if log.exists():
            bench.log("Unleash's log ends:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-10:]))
        return []


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    sqlite_users = args.users or (10_000 if args.quick else 100_000)
    pg_users = args.users or (2_000 if args.quick else 10_000)
    tmp = Path(tempfile.mkdtemp(prefix="openplum-bench-"))
    bench = Bench(runs, seconds, tmp, profile=args.profile)
    began = time.monotonic()
    rows: list[Row] = []
    ceilings = {1: Server.ceiling(1, tmp / "ceiling-1.log").start()}
    ok = False
    try:
        busy = Server.ceiling(1, tmp / "ceiling-busy.log", busy_us=CALIBRATION_US).start()
        try:
            rows.append(scenarios.calibration(bench, ceilings[1], busy, CALIBRATION_US))
        finally:
            busy.stop()
        if args.only in (None, "sqlite"):
            rows += sqlite_rows(bench, ceilings, sqlite_users, args.million)
        if args.only in (None, "postgres"):
            rows += postgres_rows(bench, ceilings, args.database_url, pg_users)
            if not args.no_others:
                rows += other_rows(bench, ceilings, args.database_url, pg_users)
        ok = True
    finally:
        for ceiling in ceilings.values():
            ceiling.stop()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"bench: logs kept in {tmp}", file=sys.stderr)
    settings = f"{runs} runs of {seconds:g} s per scenario, wrk 2 threads" + (" (--quick)" if args.quick else "")
    text = report.document(rows, settings, bench.details, bench.profiles, time.monotonic() - began)
    path = report.write(text)
    print(report.table(rows))
    print(f"\n(written to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
