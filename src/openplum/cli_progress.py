"""A textual progress bar on stderr for jobs the CLI runs, fed by ``JobContext.report``.

On a terminal the bar is redrawn in place; into a file or pipe it writes a line at each tenth, so logs stay short.
Updates come from the job's thread; a lock keeps lines whole.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, stream: TextIO, label: str, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty() if tty is None else tty
        self._shown = -1
        self._began = time.monotonic()
        self._lock = threading.Lock()

    def update(self, fraction: float) -> None:
        percent = int(max(0.0, min(1.0, fraction)) * 100)
        with self._lock:
            if percent == self._shown or (not self.tty and percent // 10 == self._shown // 10):
                return
            self._draw(percent)

    def finish(self, state: str) -> None:
        with self._lock:
            if state == "FINISHED" and self._shown < 100:
                self._draw(100)
            end_of_bar = "\n" if self.tty and self._shown >= 0 else ""
            self.stream.write(f"{end_of_bar}{self.label}: {state}\n")
            self.stream.flush()

    def _draw(self, percent: int) -> None:
        self._shown = percent
        filled = WIDTH * percent // 100
        line = f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {percent:3d}% {self._elapsed()}"
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self._began)
        return f"{seconds // 60}:{seconds % 60:02d}"
