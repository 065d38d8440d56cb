"""Python's cyclic garbage collector, set for a serving process (``openplum serve``, each of its workers).

What a request allocates is freed by reference counting as soon as the request ends: the request path leaves
no reference cycles behind (a census of the collector's findings over a hundred ingest batches found none).
The cyclic collector therefore finds nothing, but at Python's default settings it still runs after every 700
new container objects, and a 50-item batch allocates tens of thousands: on ingest it ran about 90 times a second
and each full collection walked every object the process holds (the imported modules, the app, its caches),
taking 40 ms at a time. ``bench/README.md`` has the measurements.

So the process freezes what it holds once it is built (``gc.freeze``: those objects are never examined again)
and lets the young generation grow to ``YOUNG`` objects before a collection. Cycles that do appear (an
exception's traceback, a library's internals) are still collected, a little later; at most ``YOUNG`` objects
wait, a few megabytes.
"""

from __future__ import annotations

import gc

YOUNG = 50_000
"""New container objects between two collections of the young generation (Python's default is 700)."""
OLDER = (20, 100)
"""Collections of each generation between two of the next one (Python's default is 10 and 10)."""


def settle() -> None:
    """Collect what start-up left behind, freeze the rest, and space the collections out; once per process,
    when the app is built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, *OLDER)
