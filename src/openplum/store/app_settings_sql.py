"""Per-app settings in the store: one JSON value per (app, name), absent when the app follows the server default.

The values are opaque here (``services.limits`` owns their names and meaning); a write replaces or removes the
named values in the transaction it runs in, so a change and its audit entry commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class AppSettingsTx(Protocol):
    def app_settings(self, app_id: str, prefix: str) -> dict[str, bytes]:
        """The app's values whose names start with ``prefix``, by name."""
        ...

    def put_app_settings(self, app_id: str, values: Sequence[tuple[str, bytes | None]], now: float) -> None:
        """Set each named value; ``None`` removes it (the server default applies again)."""
        ...


class AppSettingsSql:
    """SQL for ``AppSettingsTx``; mixed into ``store.sql.SqlTx`` (which provides ``_exec``)."""

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def app_settings(self, app_id: str, prefix: str) -> dict[str, bytes]:
        rows = self._exec(
            "SELECT name, value FROM app_settings WHERE app_id = ? AND substr(name, 1, ?) = ?",
            (app_id, len(prefix), prefix),
        ).fetchall()
        return {str(name): bytes(value) for name, value in rows}

    def put_app_settings(self, app_id: str, values: Sequence[tuple[str, bytes | None]], now: float) -> None:
        for name, value in values:
            if value is None:
                self._exec("DELETE FROM app_settings WHERE app_id = ? AND name = ?", (app_id, name))
            else:
                self._exec(
                    "INSERT INTO app_settings (app_id, name, value, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (app_id, name) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                    (app_id, name, value, now),
                )
