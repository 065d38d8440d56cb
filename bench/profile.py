"""Profiles of the server under load: py-spy samples each worker process while wrk runs, and the summary says
how busy each thread was and which functions it spent that time in.

Needs py-spy in the project's virtualenv (``.venv/bin/pip install py-spy``); ``bench/run --profile`` says so when
it is missing. py-spy leaves out the samples in which it judges a thread idle; a thread blocked on a database
reply or on the GIL may still count as active, so read a thread's activity next to the server's CPU figure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 100
_FRAME = re.compile(r"^(?P<fn>.*) \((?:.*/)?(?P<file>[^/:]+):\d+\)$")
_PLUMBING = {"threading.py", "runners.py", "<frozen runpy>", "_compat.py", "main.py", "server.py", "__main__.py",
             "cli.py", "proxy_headers.py", "spawn.py", "process.py", "_subprocess.py", "multiprocess.py",
             "<module> (<string>)"}
"""Frames under every sample of a thread (start-up, uvicorn's worker processes, the event loop's run), by file or
by name: left out of the lists, except where nothing else is left (the event loop's own work in C)."""


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pids: list[int], seconds: float, out: Path) -> list[subprocess.Popen[bytes]]:
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return [
        subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", str(RATE), "-f", "raw",
                          "--threads", "--nonblocking", "-o", str(out.with_suffix(f".{pid}.txt"))],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pid in pids
    ]


def _frame(raw: str) -> tuple[str, str]:
    m = _FRAME.match(raw)
    return (f"{m['fn']} ({m['file']})", m["file"]) if m else (raw, "")


def summarise(files: list[Path], seconds: float, top: int = 12) -> str:
    """Per thread: how busy it was, the functions it spent its time in (inclusive) and on-CPU (self)."""
    busy: Counter[str] = Counter()
    ids: dict[str, set[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    own: dict[str, Counter[str]] = {}
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            tid = f"{path.name}:{frames[0].split(')')[0]}"
            thread = re.sub(r"^thread \(\d+\): ", "", frames[0])
            thread = re.sub(r"_\d+$", "", thread)  # reader_0, reader_1 ... are one pool
            ids.setdefault(thread, set()).add(tid)
            n = int(count)
            busy[thread] += n
            parsed = [_frame(f) for f in frames[1:]]
            names = [name for name, file in parsed if file not in _PLUMBING and name not in _PLUMBING]
            names = names or [name for name, _ in parsed]
            for name in set(names):
                inclusive.setdefault(thread, Counter())[name] += n
            if names:
                own.setdefault(thread, Counter())[names[-1]] += n
    wall = RATE * seconds * max(len(files), 1)
    lines = []
    for thread, samples in busy.most_common():
        if samples < 0.02 * wall:
            continue
        pool = len(ids[thread]) / max(len(files), 1)
        lines.append(f"thread {thread} ({pool:g} per process): active in {samples / wall:.0%} of the samples "
                     "(summed over its threads)")
        lines.append("  inclusive: " + "; ".join(f"{name} {n / samples:.0%}"
                                                 for name, n in inclusive[thread].most_common(top)))
        lines.append("  self:      " + "; ".join(f"{name} {n / samples:.0%}"
                                                 for name, n in own[thread].most_common(top)))
    return "\n".join(lines)
