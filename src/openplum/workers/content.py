"""Keeps this process's content snapshots fresh: reads every app's content version twice a second."""

from __future__ import annotations

from openplum.services.snapshot import ContentCache
from openplum.store.base import Store, Tx


class ContentWatcher:
    name = "content-watcher"
    interval = 0.5

    def __init__(self, cache: ContentCache) -> None:
        self.cache = cache

    async def run_once(self, store: Store) -> int:
        def versions(tx: Tx) -> dict[str, int]:
            return tx.content_versions()

        found = await store.read(versions)
        self.cache.note_versions(found)
        return len(found)
