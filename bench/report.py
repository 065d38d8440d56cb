"""The results: one row per scenario and backend, medians across runs, ratios to the ceiling of the same run,
rendered as the Markdown table that ``bench/run`` prints and writes to ``bench/results/latest.md``."""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.wrk import Run

RESULTS = Path(__file__).resolve().parent / "results"


def median(runs: list[Run], figure: Callable[[Run], float]) -> float:
    return statistics.median(figure(r) for r in runs) if runs else 0.0


@dataclass
class Row:
    scenario: str
    backend: str
    workers: int
    users: int
    items: int
    """Events per request (50 for an ingest batch, 1 otherwise)."""
    runs: list[Run]
    ceiling: list[Run]
    target: str
    check: Callable[[Row], bool] | None = None
    rss_mib: float = 0.0
    connections: int = 64
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return median(self.runs, lambda r: r.rps)

    @property
    def events(self) -> float:
        return self.rps * self.items

    @property
    def p50(self) -> float:
        return median(self.runs, lambda r: r.p50_ms)

    @property
    def p99(self) -> float:
        return median(self.runs, lambda r: r.p99_ms)

    @property
    def cpu(self) -> float:
        return median(self.runs, lambda r: r.server_cpu)

    @property
    def ceiling_rps(self) -> float:
        return median(self.ceiling, lambda r: r.rps)

    @property
    def ratio(self) -> float:
        """Median of the per-run ratios: each openplum run against the ceiling run next to it."""
        pairs = list(zip(self.runs, self.ceiling, strict=False))
        if not pairs:
            return 0.0
        return statistics.median(r.rps / c.rps for r, c in pairs if c.rps)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def met(self) -> str:
        if self.check is None:
            return "-"
        return "yes" if self.check(self) else "**no**"


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


HEADER = ("| scenario | backend | workers | users | conns | req/s | events/s | p50 ms | p99 ms | ceiling req/s | "
          "ratio | CPU | RSS MiB | errors | target | met? |")


def table(rows: list[Row]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.backend} | {r.workers} | {_num(r.users)} | {r.connections} | {_num(r.rps)} | "
            f"{_num(r.events)} | {_num(r.p50, 1)} | {_num(r.p99, 1)} | "
            f"{_num(r.ceiling_rps) if r.ceiling else '-'} | {_num(r.ratio, 3) if r.ceiling else '-'} | "
            f"{r.cpu:.2f} | {_num(r.rss_mib)} | {r.errors} | {r.target} | {r.met} |"
        )
    return "\n".join(lines)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model or platform.processor() or 'unknown CPU'}), Linux {platform.release()}"


def build() -> str:
    """Which openplum the servers run: compiled by mypyc (scripts/install-server) or the plain source."""
    spec = importlib.util.find_spec("openplum.services.snapshot")
    compiled = spec is not None and spec.origin is not None and not spec.origin.endswith(".py")
    return "openplum compiled by mypyc" if compiled else "openplum not compiled"


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
                          cwd=RESULTS.parent)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True,
                           check=False, cwd=RESULTS.parent).stdout.strip()
    return (done.stdout.strip() or "unknown") + (" (src/ modified)" if dirty else "")


def document(rows: list[Row], settings: str, details: list[str], profiles: list[str], elapsed: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# openplum benchmark results", "",
        f"{when}; commit {commit()} ({build()}); {machine()}; {settings}; {elapsed / 60:.1f} min.", "",
        "Medians across runs; `ratio` is the median of each openplum run divided by the ceiling run beside it "
        "(a null handler on the same HTTP stack and worker count). `errors` counts socket errors, timeouts and "
        "non-2xx answers; `CPU` is the cores openplum's processes used during its runs (median); `RSS` their "
        "own resident memory (RssAnon, summed over the server's processes) after the scenario: the pages of the "
        "database file SQLite maps are page cache, not counted.", "",
        table(rows), "",
    ]
    notes = [f"- {r.scenario} / {r.backend}: {n}" for r in rows for n in r.notes]
    if notes:
        parts += ["## Notes", "", *notes, ""]
    parts += ["## Runs", "", "```", *details, "```", ""]
    if profiles:
        parts += ["## Profiles (py-spy)", "", *profiles, ""]
    return "\n".join(parts)


def write(text: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "latest.md"
    path.write_text(text)
    return path
