"""SQL for content (variables, action definitions, audiences, A/B tests) and management (tokens, audit log).

A mixin of ``store.sql.SqlTx``, which provides ``_exec`` and ``_many`` with ``?`` placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openplum.store.base import AbTestRow, AppRecord, AudienceRow, AuditRow, VariableRow


def _b(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None


class ContentSql:
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def _changed(self, sql: str, params: Sequence[Any] = ()) -> int:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    # -- content -------------------------------------------------------------------------------------------
    def content_versions(self) -> dict[str, int]:
        return {a: int(v) for a, v in self._exec("SELECT app_id, version FROM content_versions").fetchall()}

    def content_version(self, app_id: str) -> int:
        row = self._exec("SELECT version FROM content_versions WHERE app_id = ?", (app_id,)).fetchone()
        return int(row[0]) if row else 0

    def bump_content(self, app_id: str, now: float) -> int:
        row = self._exec(
            "INSERT INTO content_versions (app_id, version, updated) VALUES (?, 1, ?) "
            "ON CONFLICT (app_id) DO UPDATE SET version = content_versions.version + 1, updated = excluded.updated "
            "RETURNING version",
            (app_id, now),
        ).fetchone()
        return int(row[0])

    def list_variables(self, app_id: str) -> list[VariableRow]:
        rows = self._exec(
            "SELECT name, kind, default_value, value FROM variables WHERE app_id = ? ORDER BY name", (app_id,)
        ).fetchall()
        return [VariableRow(n, k, _b(d), _b(v)) for n, k, d, v in rows]

    def define_variables(self, app_id: str, rows: Sequence[tuple[str, str, bytes]], now: float) -> None:
        self._many(
            "INSERT INTO variables (app_id, name, kind, default_value, value, updated) VALUES (?, ?, ?, ?, NULL, ?) "
            "ON CONFLICT (app_id, name) DO UPDATE SET kind = excluded.kind, default_value = excluded.default_value, "
            "updated = excluded.updated",
            [(app_id, n, k, d, now) for n, k, d in rows],
        )

    def set_variable_value(self, app_id: str, name: str, value: bytes | None, now: float) -> bool:
        return bool(self._changed(
            "UPDATE variables SET value = ?, updated = ? WHERE app_id = ? AND name = ?", (value, now, app_id, name)
        ))

    def delete_variables(self, app_id: str, names: Sequence[str]) -> list[str]:
        removed: list[str] = []
        for name in names:
            if self._changed("DELETE FROM variables WHERE app_id = ? AND name = ?", (app_id, name)):
                removed.append(name)
        return removed

    def list_action_definitions(self, app_id: str) -> dict[str, bytes]:
        rows = self._exec("SELECT name, doc FROM action_definitions WHERE app_id = ?", (app_id,)).fetchall()
        return {n: bytes(d) for n, d in rows}

    def put_action_definitions(self, app_id: str, docs: Sequence[tuple[str, bytes]], now: float) -> None:
        self._many(
            "INSERT INTO action_definitions (app_id, name, doc, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (app_id, name) DO UPDATE SET doc = excluded.doc, updated = excluded.updated",
            [(app_id, n, d, now) for n, d in docs],
        )

    def list_audiences(self, app_id: str) -> list[AudienceRow]:
        rows = self._exec(
            "SELECT audience_id, name, rule, created, updated FROM audiences WHERE app_id = ? ORDER BY audience_id",
            (app_id,),
        ).fetchall()
        return [AudienceRow(int(i), n, bytes(r), c, u) for i, n, r, c, u in rows]

    def put_audience(self, app_id: str, row: AudienceRow) -> None:
        self._exec(
            "INSERT INTO audiences (app_id, audience_id, name, rule, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (app_id, audience_id) DO UPDATE SET name = excluded.name, rule = excluded.rule, "
            "updated = excluded.updated",
            (app_id, row.audience_id, row.name, row.rule, row.created, row.updated),
        )

    def delete_audience(self, app_id: str, audience_id: int) -> bool:
        return bool(self._changed("DELETE FROM audiences WHERE app_id = ? AND audience_id = ?", (app_id, audience_id)))

    def list_ab_tests(self, app_id: str) -> list[AbTestRow]:
        rows = self._exec(
            "SELECT test_id, doc, state, created, updated FROM ab_tests WHERE app_id = ? ORDER BY test_id", (app_id,)
        ).fetchall()
        return [AbTestRow(int(i), bytes(d), s, c, u) for i, d, s, c, u in rows]

    def put_ab_test(self, app_id: str, row: AbTestRow) -> None:
        self._exec(
            "INSERT INTO ab_tests (app_id, test_id, doc, state, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (app_id, test_id) DO UPDATE SET doc = excluded.doc, state = excluded.state, "
            "updated = excluded.updated",
            (app_id, row.test_id, row.doc, row.state, row.created, row.updated),
        )

    def delete_ab_test(self, app_id: str, test_id: int) -> bool:
        deleted = self._changed("DELETE FROM ab_tests WHERE app_id = ? AND test_id = ?", (app_id, test_id))
        self._exec("DELETE FROM forced_variants WHERE app_id = ? AND test_id = ?", (app_id, test_id))
        return bool(deleted)

    def forced_variants(self, app_id: str) -> dict[tuple[str, int], int]:
        rows = self._exec(
            "SELECT device_id, test_id, variant_id FROM forced_variants WHERE app_id = ?", (app_id,)
        ).fetchall()
        return {(d, int(t)): int(v) for d, t, v in rows}

    def force_variant(self, app_id: str, device_id: str, test_id: int, variant_id: int | None) -> None:
        if variant_id is None:
            self._exec(
                "DELETE FROM forced_variants WHERE app_id = ? AND device_id = ? AND test_id = ?",
                (app_id, device_id, test_id),
            )
            return
        self._exec(
            "INSERT INTO forced_variants (app_id, device_id, test_id, variant_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (app_id, device_id, test_id) DO UPDATE SET variant_id = excluded.variant_id",
            (app_id, device_id, test_id, variant_id),
        )

    # -- management ----------------------------------------------------------------------------------------
    def add_admin_token(self, token_id: str, name: str, token_hash: bytes, now: float) -> None:
        self._exec(
            "INSERT INTO admin_tokens (token_id, name, token_hash, created) VALUES (?, ?, ?, ?)",
            (token_id, name, token_hash, now),
        )

    def list_admin_tokens(self) -> list[tuple[str, str, float, float | None]]:
        rows = self._exec("SELECT token_id, name, created, revoked FROM admin_tokens ORDER BY created").fetchall()
        return [(t, n, c, r) for t, n, c, r in rows]

    def revoke_admin_token(self, token_id: str, now: float) -> bool:
        return bool(self._changed(
            "UPDATE admin_tokens SET revoked = ? WHERE token_id = ? AND revoked IS NULL", (now, token_id)
        ))

    def admin_token_hashes(self) -> dict[str, bytes]:
        rows = self._exec("SELECT token_id, token_hash FROM admin_tokens WHERE revoked IS NULL").fetchall()
        return {t: bytes(h) for t, h in rows}

    def audit(self, app_id: str | None, at: float, actor: str, action: str, target: str, details: bytes | None) -> None:
        self._exec(
            "INSERT INTO audit_log (app_id, at, actor, action, target, details) VALUES (?, ?, ?, ?, ?, ?)",
            (app_id, at, actor, action, target, details),
        )

    def audit_log(self, app_id: str | None, after: int, limit: int) -> list[AuditRow]:
        if app_id is None:
            rows = self._exec(
                "SELECT seq, app_id, at, actor, action, target, details FROM audit_log WHERE seq > ? "
                "ORDER BY seq LIMIT ?", (after, limit),
            ).fetchall()
        else:
            rows = self._exec(
                "SELECT seq, app_id, at, actor, action, target, details FROM audit_log WHERE app_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?", (app_id, after, limit),
            ).fetchall()
        return [AuditRow(int(q), a, t, ac, act, tg, _b(d)) for q, a, t, ac, act, tg, d in rows]

    def update_app_keys(self, app: AppRecord) -> None:
        self._exec(
            "UPDATE apps SET production_key = ?, development_key = ?, data_export_key = ?, content_read_only_key = ? "
            "WHERE app_id = ?",
            (app.production_key, app.development_key, app.data_export_key, app.content_read_only_key, app.app_id),
        )

