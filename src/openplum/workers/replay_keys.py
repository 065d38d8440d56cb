"""Forgets replay keys older than the retention window, so the dedupe table stays bounded."""

from __future__ import annotations

from openplum.settings import Settings
from openplum.store.base import Store, Tx


class ReplayKeyPruner:
    name = "replay-key-pruner"
    interval = 3600.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run_once(self, store: Store) -> int:
        cutoff = self.settings.clock.now() - self.settings.dedupe_retention

        def prune(tx: Tx) -> int:
            return tx.forget_keys(cutoff)

        return await store.write(prune)
