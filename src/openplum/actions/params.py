"""Typed parameters: the msgspec structs Leanplum's loose wire values are decoded into, once, at the edge
(``actions/decoding.py`` has the rules), and the parameters every action shares.
"""

from __future__ import annotations

from typing import Literal

import msgspec

CreateDisposition = Literal["CreateIfNeeded", "CreateNever"]


class Common(msgspec.Struct, rename="camel", kw_only=True):
    """Parameters every action may carry (API.md §1.4, §5)."""

    user_id: str | None = None
    device_id: str | None = None
    dev_mode: bool = False
    create_disposition: CreateDisposition | None = None
    time: float | None = None
    client: str | None = None
    sdk_version: str | None = None
    version_name: str | None = None
    req_id: str | None = None


class NoParams(Common):
    pass
