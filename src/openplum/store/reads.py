"""A bound on reads waiting for a reader thread: past it a read is shed with a retryable 503.

Without it, clients that give up and retry leave their old reads queued in the thread pool, and the queue
(with each request's memory) grows without limit under overload. Used from the event loop only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from openplum.errors import Overloaded


class ReadGate:
    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._waiting = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self._waiting >= self._limit:
            raise Overloaded()
        self._waiting += 1
        try:
            yield
        finally:
            self._waiting -= 1
