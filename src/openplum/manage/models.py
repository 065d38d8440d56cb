"""Request and response bodies of the management API (they define its OpenAPI schemas too)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from openplum.services.experiments import AbTest


class Keys(msgspec.Struct):
    production: str
    development: str
    dataExport: str
    contentReadOnly: str


class App(msgspec.Struct):
    appId: str
    name: str
    created: float
    keys: Keys


class AppList(msgspec.Struct):
    apps: list[App]


class NewApp(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    appId: str | None = None
    keys: dict[str, str] | None = None


class Variable(msgspec.Struct):
    name: str
    kind: str
    default: Any = None
    value: Any = None
    overridden: bool = False


class VariableList(msgspec.Struct):
    variables: list[Variable]


class VariableValue(msgspec.Struct, forbid_unknown_fields=True):
    value: Any


class Audience(msgspec.Struct):
    id: int
    name: str
    rule: Any
    created: float
    updated: float


class AudienceList(msgspec.Struct):
    audiences: list[Audience]


class AudienceInput(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    rule: Any


class VariantInput(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    weight: float
    id: int | None = None
    control: bool = False
    overrides: dict[str, Any] = msgspec.field(default_factory=dict)


class AbTestInput(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    variants: list[VariantInput]
    audienceId: int | None = None
    traffic: float = 100.0
    goalEvents: list[str] = msgspec.field(default_factory=list)


class AbTestPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; ``"audienceId": null`` removes the audience."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    variants: list[VariantInput] | msgspec.UnsetType = msgspec.UNSET
    audienceId: int | msgspec.UnsetType | None = msgspec.UNSET
    traffic: float | msgspec.UnsetType = msgspec.UNSET
    goalEvents: list[str] | msgspec.UnsetType = msgspec.UNSET


class AbTestList(msgspec.Struct):
    abTests: list[AbTest]


class FinishInput(msgspec.Struct, forbid_unknown_fields=True):
    chosenVariantId: int | None = None


class ForcedVariant(msgspec.Struct, forbid_unknown_fields=True):
    variantId: int | None


class AuditEntry(msgspec.Struct):
    seq: int
    appId: str | None
    at: float
    actor: str
    action: str
    target: str
    details: Any = None


class AuditPage(msgspec.Struct):
    entries: list[AuditEntry]
    next: int


class Ok(msgspec.Struct):
    ok: Literal[True] = True
