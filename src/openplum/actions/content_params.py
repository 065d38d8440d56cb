"""The parameters of ``getVars``, ``setVars`` and ``deleteVars``, apart from their handlers so that
``actions/content.py`` can be compiled (``setup.py``)."""

from __future__ import annotations

from typing import Any

from openplum.actions.params import Common


class GetVarsParams(Common):
    include_defaults: bool = True
    include_variant_debug_info: bool = False
    newsfeed_messages: list[Any] | None = None


class SetVarsParams(Common):
    vars: dict[str, Any] | None = None
    kinds: dict[str, str] | None = None
    action_definitions: dict[str, Any] | None = None
    file_attributes: dict[str, Any] | None = None


class DeleteVarsParams(Common):
    vars: list[str]
