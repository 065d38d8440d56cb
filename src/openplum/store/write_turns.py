"""Turns at writing one SQLite file, for the processes of a server (``openplum serve --workers N``) and the
threads of each.

SQLite lets one connection write a file at a time. Another that wants to write sleeps and looks again, after
1 ms, then 2, 5, 10 and up to 100 ms between looks (its busy handler), so two workers that both write all the
time spend much of their waiting asleep after the file is free again, and a write can wait a second or more
behind a few short ones (``bench/README.md``, "Several workers on one SQLite file").

A writer here first takes an exclusive ``flock(2)`` lock on a file beside the database (``openplum.db-writer``,
empty): the kernel wakes a waiter as soon as the holder lets go, and lets go for a process that dies, however it
dies. Threads of one process take turns on a mutex first, as ``flock`` does not tell apart two threads that share
one open file. Programs that do not take this lock (``sqlite3``, an older openplum) are still kept apart by
SQLite's own lock, at their busy handler's pace.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SHARED_FOR = 1.0
"""Seconds after a turn had to wait for another process during which the file counts as shared."""


class WriteTurns:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-writer")
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._waited_at = -SHARED_FOR

    def shared(self) -> bool:
        """Whether a turn recently had to wait for another process (another worker is writing too)."""
        return time.monotonic() - self._waited_at < SHARED_FOR

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the file's write turn for the ``with`` block."""
        with self._mutex:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._waited_at = time.monotonic()
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _open(self) -> int:
        """The lock file, opened once per process (on first use: a forked worker opens its own)."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd
