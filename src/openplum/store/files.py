"""Stored files (``uploadFile``/``downloadFile``, file variables): the metadata rows, kept apart from the bytes.

The bytes live in a blob store (``services.blobs``): the data directory by default, an S3-compatible bucket when
configured. ``FilesTx`` is the part of the store protocol for the metadata; ``FilesSql`` implements it.
"""

from __future__ import annotations

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
    def put_file(self, app_id: str, row: FileRow) -> None: ...
    def get_file(self, app_id: str, name: str) -> FileRow | None: ...
    def list_files(self, app_id: str) -> list[FileRow]: ...
    def delete_file(self, app_id: str, name: str) -> bool: ...


class FilesSql:
    """SQL for ``FilesTx``; mixed into ``store.sql.SqlTx`` (which provides ``_exec``)."""

    def _exec(self, sql: str, params: Any = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def put_file(self, app_id: str, row: FileRow) -> None:
        raise NotImplementedError("files are not stored yet")

    def get_file(self, app_id: str, name: str) -> FileRow | None:
        raise NotImplementedError("files are not stored yet")

    def list_files(self, app_id: str) -> list[FileRow]:
        raise NotImplementedError("files are not stored yet")

    def delete_file(self, app_id: str, name: str) -> bool:
        raise NotImplementedError("files are not stored yet")
