"""The unit of work one request's actions share inside one store transaction.

Write actions run in the store's writer thread; the unit keeps what they change in memory (profiles, new rows)
and writes it once, in bulk, when the request's actions are done: a 50-item SDK batch costs one profile read,
one profile write and one multi-row insert per table.
"""

from __future__ import annotations

from openplum.store.base import Tx


class Unit:
    def __init__(self, tx: Tx, app_id: str, now: float, *, writable: bool) -> None:
        self.tx = tx
        self.app_id = app_id
        self.now = now
        self.writable = writable

    def flush(self) -> None:
        """Write everything the actions changed."""
