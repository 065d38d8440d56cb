"""SDK housekeeping actions: ``getMigrateState`` and ``log``."""

from __future__ import annotations

import hashlib

import msgspec

from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common

# Pure-Leanplum mode (API.md §7.7): the SDK caches this answer and never enables CleverTap hooks.
_MIGRATE_STATE = {"sdk": "lp", "state": "NONE", "api": {"profile": "lp", "events": "lp"}}
_MIGRATE_SHA = hashlib.sha256(msgspec.json.encode(_MIGRATE_STATE)).hexdigest()


def get_migrate_state(ctx: ActionContext, params: Common) -> Reply:
    return Reply({**_MIGRATE_STATE, "sha256": _MIGRATE_SHA})


class LogParams(Common):
    type: str | None = None
    message: str | None = None
    stack_trace: str | None = None
    name: str | None = None
    count: int | None = None


def log(ctx: ActionContext, params: LogParams) -> Reply:
    """SDK remote logs: accepted and dropped. Logging them would let any client fill our logs."""
    return Reply()
