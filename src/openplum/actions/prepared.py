"""One batch item after parsing and auth at the edge (``actions.prepare``), as ``actions.runner`` runs it.

A module of its own because it is a msgspec struct: the runner is compiled by mypyc (``setup.py``), and a struct's
class statement must stay interpreted for msgspec to read its options and field types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from openplum.actions.table import ActionSpec
from openplum.services.apps import KeyClass


class Prepared(msgspec.Struct):
    """One item after parsing and auth at the edge: either ready to run or already answered."""

    spec: ActionSpec | None
    params: Any = None
    key_class: KeyClass | None = None
    replay_key: bytes | None = None
    answer: dict[str, Any] | None = None
    status: int = 0
    """HTTP status for a single (non-batch) request answered at the edge."""
    req_id: str | None = None
    uploads: Mapping[str, bytes] = msgspec.field(default_factory=dict)
    """File parts of a multipart request of this one action (``uploadFile``)."""
    base_url: str | None = None
    """This server's absolute base URL as a request of this one action reached it (export file URLs)."""
