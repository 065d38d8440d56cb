"""A/B tests: their definition, and which variant a user gets (API.md §6.4; DESIGN "Content and experiments").

Assignment is a pure function of (app, test, user): a first hash decides whether the user is in the test's
traffic share, a second picks the variant by weight. Both are independent of the traffic percentage, so
widening a test's traffic only adds users; nobody changes variant, on any device, session or server process.
A registered test device can be forced into a variant. The hashing is ``services/placement.py``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

State = Literal["draft", "running", "finished"]


class Variant(msgspec.Struct, rename="camel", omit_defaults=True):
    id: int
    name: str
    weight: float
    control: bool = False
    overrides: dict[str, Any] = msgspec.field(default_factory=dict)
    """Variable values this variant sets, by dotted variable name."""


class AbTest(msgspec.Struct, rename="camel"):
    id: int
    name: str
    created: float
    updated: float
    state: State = "draft"
    audience_id: int | None = None
    traffic: float = 100.0
    """Percent of the targeted users who take part."""
    goal_events: list[str] = msgspec.field(default_factory=list)
    variants: list[Variant] = msgspec.field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    chosen_variant_id: int | None = None
    created_by: str | None = None
    published_by: str | None = None
    targeting_sticky: bool = True

    def variant(self, variant_id: int) -> Variant | None:
        return next((v for v in self.variants if v.id == variant_id), None)


_decoder = msgspec.json.Decoder(AbTest)


def decode(doc: bytes) -> AbTest:
    return _decoder.decode(doc)


def encode(test: AbTest) -> bytes:
    return msgspec.json.encode(test)


def validate(test: AbTest, known_variables: dict[str, str]) -> list[str]:
    """Problems with ``test`` (each naming the field), checked before anything is stored."""
    from openplum.services.variables import VariableError, check_value

    problems: list[str] = []
    if not test.name.strip():
        problems.append("name: must not be empty")
    if not 0.0 <= test.traffic <= 100.0:
        problems.append("traffic: must be a percentage between 0 and 100")
    if not test.variants:
        problems.append("variants: a test needs at least one variant")
    total = sum(v.weight for v in test.variants)
    if test.variants and abs(total - 100.0) > 1e-6:
        problems.append(f"variants: weights must add up to 100 (they add up to {total:g})")
    if sum(1 for v in test.variants if v.control) > 1:
        problems.append("variants: only one variant can be the control")
    for i, variant in enumerate(test.variants):
        if variant.weight < 0:
            problems.append(f"variants[{i}].weight: must not be negative")
        if not variant.name.strip():
            problems.append(f"variants[{i}].name: must not be empty")
        for name, value in variant.overrides.items():
            kind = known_variables.get(name)
            if kind is None:
                problems.append(f"variants[{i}].overrides.{name}: no such variable")
                continue
            try:
                check_value(name, kind, value)
            except VariableError as exc:
                problems.append(f"variants[{i}].overrides.{name}: {exc.message}")
    return problems
