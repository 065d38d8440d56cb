"""Stored files (``uploadFile``/``downloadFile``, file variables): the metadata rows, kept apart from the bytes.

The bytes live in a blob store (``services.blobs``): the data directory by default, an S3-compatible bucket when
configured. ``FilesTx`` is the part of the store protocol for the metadata, the blobs waiting to be removed and
the server's secrets; ``FilesSql`` implements it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class FileRow:
    name: str
    size: int
    md5: str
    content_type: str
    storage_key: str
    created: float
    updated: float


class FilesTx(Protocol):
    def put_file(self, app_id: str, row: FileRow) -> None:
        """Insert or replace the file named ``row.name`` (a replacement keeps the first ``created``)."""
        ...

    def get_file(self, app_id: str, name: str) -> FileRow | None: ...
    def list_files(self, app_id: str) -> list[FileRow]: ...
    def delete_file(self, app_id: str, name: str) -> bool: ...

    def discard_blob(self, storage_key: str, now: float) -> None:
        """Queue a blob no file points to any more, for removal once this transaction has committed."""
        ...

    def discarded_blobs(self, before: float, limit: int) -> list[str]: ...
    def forget_discarded(self, storage_keys: Sequence[str]) -> None: ...

    def ensure_secret(self, name: str, candidate: str, now: float) -> str:
        """The secret called ``name``, storing ``candidate`` when there is none yet (the first writer wins)."""
        ...

    def get_secret(self, name: str) -> str | None: ...


_COLS = "name, size, md5, content_type, storage_key, created, updated"


def _row(values: Sequence[Any]) -> FileRow:
    name, size, md5, content_type, storage_key, created, updated = values
    return FileRow(name, int(size), md5, content_type, storage_key, float(created), float(updated))


class FilesSql:
    """SQL for ``FilesTx``; mixed into ``store.sql.SqlTx`` (which provides ``_exec``)."""

    def _exec(self, sql: str, params: Any = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def _changed(self, sql: str, params: Sequence[Any] = ()) -> int:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def put_file(self, app_id: str, row: FileRow) -> None:
        self._exec(
            f"INSERT INTO files (app_id, {_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (app_id, name) DO UPDATE SET size = excluded.size, md5 = excluded.md5, "
            "content_type = excluded.content_type, storage_key = excluded.storage_key, updated = excluded.updated",
            (app_id, row.name, row.size, row.md5, row.content_type, row.storage_key, row.created, row.updated),
        )

    def get_file(self, app_id: str, name: str) -> FileRow | None:
        found = self._exec(f"SELECT {_COLS} FROM files WHERE app_id = ? AND name = ?", (app_id, name)).fetchone()
        return _row(found) if found else None

    def list_files(self, app_id: str) -> list[FileRow]:
        rows = self._exec(f"SELECT {_COLS} FROM files WHERE app_id = ? ORDER BY name", (app_id,)).fetchall()
        return [_row(r) for r in rows]

    def delete_file(self, app_id: str, name: str) -> bool:
        return bool(self._changed("DELETE FROM files WHERE app_id = ? AND name = ?", (app_id, name)))

    def discard_blob(self, storage_key: str, now: float) -> None:
        self._exec(
            "INSERT INTO file_garbage (storage_key, since) VALUES (?, ?) ON CONFLICT (storage_key) DO NOTHING",
            (storage_key, now),
        )

    def discarded_blobs(self, before: float, limit: int) -> list[str]:
        rows = self._exec(
            "SELECT storage_key FROM file_garbage WHERE since < ? ORDER BY since LIMIT ?", (before, limit)
        ).fetchall()
        return [r[0] for r in rows]

    def forget_discarded(self, storage_keys: Sequence[str]) -> None:
        for key in storage_keys:
            self._exec("DELETE FROM file_garbage WHERE storage_key = ?", (key,))

    def ensure_secret(self, name: str, candidate: str, now: float) -> str:
        self._exec(
            "INSERT INTO server_secrets (name, value, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, candidate, now),
        )
        stored = self.get_secret(name)
        assert stored is not None
        return stored

    def get_secret(self, name: str) -> str | None:
        found = self._exec("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()
        return str(found[0]) if found else None
