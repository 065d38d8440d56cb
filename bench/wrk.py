"""Running wrk: one timed run of a Lua script against a server, read back from the script's summary line."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"
CONNECTIONS = 64
THREADS = 2


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    """Socket errors, timeouts and non-2xx/3xx answers (a shed 503 counts here)."""
    server_cpu: float = 0.0
    """CPU the server's processes used during the run, in cores (1.0 = one core busy all the time)."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(url: str, script: str, args: list[str], seconds: float, connections: int = CONNECTIONS) -> Run:
    threads = min(THREADS, connections)
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--latency",
            "--timeout", "10s", "-s", str(LUA / script), url, "--", *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    s = json.loads(line[len("BENCH "):])
    errors = s["connect"] + s["read"] + s["write"] + s["status"] + s["timeout"]
    return Run(s["requests"], s["duration_us"] / 1e6, s["p50_us"] / 1e3, s["p90_us"] / 1e3, s["p99_us"] / 1e3,
               s["max_us"] / 1e3, errors)
