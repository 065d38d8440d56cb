"""Whether anything else waits to run in the current turn of an event loop.

Two places act on it: the HTTP protocol holds a busy loop's writes to the end of the turn, and the SQLite store
shares one read transaction among a busy turn's lookups. Alone in its turn, a request gains nothing from either.
asyncio's own loop keeps its queue of ready callbacks in ``_ready`` (not public); a loop that shows none (uvloop)
is taken as always busy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sized


def ready_queue(loop: asyncio.AbstractEventLoop) -> Sized | None:
    """The loop's queue of callbacks still to run in this turn; None when the loop does not show one."""
    queue: Sized | None = getattr(loop, "_ready", None)
    return queue


def nothing_else_waits(queue: Sized | None) -> bool:
    """Whether nothing else will run before the loop next waits (False when the queue is unknown)."""
    return queue is not None and not queue
