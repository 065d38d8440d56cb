"""Request and response bodies of the management API (they define its OpenAPI schemas too)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from openplum.services.experiments import AbTest

# Rules the server checks itself (answering 400 naming the field), stated in the OpenAPI schemas too so they
# describe what is accepted; decoding is unchanged, so the server's own messages stay.
Name = Annotated[str, msgspec.Meta(extra_json_schema={"pattern": "\\S"})]  # not empty, not only spaces
Token = Annotated[str, msgspec.Meta(extra_json_schema={"pattern": "^[A-Za-z0-9_.-]{1,200}$"})]
NotNull = Annotated[Any, msgspec.Meta(extra_json_schema={"not": {"type": "null"}})]
Percentage = Annotated[float, msgspec.Meta(extra_json_schema={"minimum": 0, "maximum": 100})]
Weight = Annotated[float, msgspec.Meta(extra_json_schema={"minimum": 0})]


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
    name: Name
    appId: Token | None = None
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
    value: NotNull


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
    weight: Weight
    id: int | None = None
    control: bool = False
    overrides: dict[str, Any] = msgspec.field(default_factory=dict)


Variants = Annotated[list[VariantInput], msgspec.Meta(extra_json_schema={"minItems": 1})]


class AbTestInput(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    variants: Variants
    audienceId: int | None = None
    traffic: Percentage = 100.0
    goalEvents: list[str] = msgspec.field(default_factory=list)


class AbTestPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; ``"audienceId": null`` removes the audience."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    variants: Variants | msgspec.UnsetType = msgspec.UNSET
    audienceId: int | msgspec.UnsetType | None = msgspec.UNSET
    traffic: Percentage | msgspec.UnsetType = msgspec.UNSET
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
