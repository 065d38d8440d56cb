"""Starting and stopping the servers under test (openplum, the ceiling) and reading their memory.

Each server runs in its own process group so that stopping it also stops uvicorn's worker processes, and
nothing else. Memory is the sum of VmRSS over the server's process tree (the supervisor and its workers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from bench.client import Client

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def openplum(args: list[str], env: dict[str, str]) -> str:
    """Run an ``openplum`` command (``apps create`` ...) with the server's environment; return its stdout."""
    done = subprocess.run([sys.executable, "-m", "openplum", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"openplum {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.name, self.argv, self.env, self.port, self.log = name, argv, env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def openplum(cls, env: dict[str, str], workers: int, log: Path) -> Server:
        port = free_port()
        argv = [sys.executable, "-m", "openplum", "serve", "--port", str(port), "--workers", str(workers),
                "--log-level", "warning"]
        return cls(f"openplum x{workers}", argv, env, port, log)

    @classmethod
    def ceiling(cls, workers: int, log: Path, busy_us: float = 0.0) -> Server:
        port = free_port()
        argv = [sys.executable, "-m", "bench.ceiling", "--port", str(port), "--workers", str(workers),
                "--busy-us", str(busy_us)]
        name = f"ceiling x{workers}" + (f" +{busy_us:g} us" if busy_us else "")
        return cls(name, argv, dict(os.environ), port, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            Client(self.port).wait_healthy()
        except Exception:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; see {self.log}") from None
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def pids(self) -> list[int]:
        """The server's process and its descendants (uvicorn's workers when there are several)."""
        assert self.proc is not None
        tree, frontier = [self.proc.pid], [self.proc.pid]
        parents = _parents()
        while frontier:
            children = [pid for pid, ppid in parents.items() if ppid in frontier]
            tree += children
            frontier = children
        return tree

    def workers(self) -> list[int]:
        """The processes that serve requests: the workers uvicorn's supervisor spawned, or the server itself."""
        tree = self.pids()
        return [p for p in tree[1:] if "spawn_main" in _cmdline(p)] or tree[:1]

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server's processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def rss_mib(self) -> float:
        return sum(_rss_kib(pid) for pid in self.pids()) / 1024


def _parents() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        out[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss_kib(pid: int) -> int:
    """The process's own resident memory (RssAnon): not the pages of files it maps, such as SQLite's database,
    which the OS keeps as page cache and drops under pressure."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
