"""What a handler receives and returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from openplum.services.apps import KeyClass
from openplum.services.catalog import NameCatalog
from openplum.services.snapshot import ContentCache
from openplum.services.unit import Unit
from openplum.settings import Settings
from openplum.store.base import AppRecord, Tx


class Reply(msgspec.Struct):
    """An action's outcome: response fields, and an optional warning (``success`` stays true)."""

    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    warning: str | None = None
    extra_warning_fields: dict[str, Any] = msgspec.field(default_factory=dict)
    redirect: str | None = None
    """Answer with a redirect here instead of JSON (``downloadFile``): an absolute URL or a path on this server."""


@dataclass(frozen=True)
class Runtime:
    """What every request of this process shares: settings, the name catalog and the content snapshots."""

    settings: Settings
    catalog: NameCatalog
    content: ContentCache


class ActionContext(msgspec.Struct):
    app: AppRecord
    unit: Unit
    settings: Settings
    content: ContentCache
    key_class: KeyClass
    now: float
    request_time: float | None
    """The batch's top-level ``time`` (client clock when the request was sent), for skew correction."""
    replayed: bool = False
    followups: list[Callable[[Tx], None]] = msgspec.field(default_factory=list)
    """Writes a read-only batch needs done after it answers (a user's first A/B exposure)."""
    create_default: bool = False
    """Whether the action creates unknown users when the caller sends no ``createDisposition`` (§3.2)."""
    uploads: Mapping[str, bytes] = msgspec.field(default_factory=dict)
    """The request's multipart file parts by field name (``uploadFile``); empty inside a batch."""
    base_url: str | None = None
    """This server's absolute base URL as the request reached it; None inside a batch (exports fall back to
    ``OPENPLUM_PUBLIC_URL``)."""

    def creates(self, disposition: str | None) -> bool:
        return self.create_default if disposition is None else disposition == "CreateIfNeeded"


Handler = Callable[[ActionContext, Any], Reply]
