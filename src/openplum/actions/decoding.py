"""Decoding an action's raw parameters into its struct (``actions/params.py``), by Leanplum's loose rules.

Values arrive as strings from URLs and forms, as JSON-in-strings for objects (``userAttributes="{...}"``), or as
real JSON. Rules (API.md §1.3): a JSON ``null`` means the parameter is absent; an object or list parameter may be a
JSON string; numbers and booleans may be strings; a number sent where text is expected is taken as its text.
Apart from the structs, so that it can be compiled (``setup.py``).
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

from openplum import client_json
from openplum.errors import ApiError
from openplum.services.timing import EARLIEST, LATEST

S = TypeVar("S", bound=msgspec.Struct)


_OBJ, _STR, _FLOAT, _OTHER = 0, 1, 2, 3


def _kind(t: mi.Type) -> int:
    if isinstance(t, mi.UnionType):
        kinds = {_kind(x) for x in t.types if not isinstance(x, mi.NoneType)}
        return kinds.pop() if len(kinds) == 1 else _OTHER
    if isinstance(t, mi.DictType | mi.ListType | mi.StructType | mi.TypedDictType):
        return _OBJ
    if isinstance(t, mi.StrType):
        return _STR
    if isinstance(t, mi.FloatType):
        return _FLOAT
    return _OTHER


@cache
def _plan(typ: type[msgspec.Struct]) -> dict[str, int]:
    info = mi.type_info(typ)
    assert isinstance(info, mi.StructType)
    return {f.encode_name: _kind(f.type) for f in info.fields}


_LOCATION = re.compile(r"\$\.([A-Za-z0-9_]+)")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def decode(raw: dict[str, Any], typ: type[S]) -> S:
    """Decode one action's raw parameters into ``typ``; raise ``ApiError`` naming the bad parameter.

    Most items need no coercion beyond what ``msgspec.convert`` does itself (strings to numbers and booleans),
    so they take a fast path that only decodes JSON-in-string objects. Anything unusual (a number sent as text,
    a value that does not fit, a non-finite number) is decoded again by the full rules, which also word the
    error, so both paths always give the same result.
    """
    fast = _fast_plan(typ)
    if fast is not None:
        decoded = _decode_fast(raw, typ, fast)
        if decoded is not None:
            return decoded
    return _decode_strict(raw, typ)


class _FastPlan:
    __slots__ = ("floats", "objects")

    def __init__(self, objects: tuple[str, ...], floats: tuple[str, ...]) -> None:
        self.objects = objects
        """Wire names of object and list parameters, which may arrive as JSON strings."""
        self.floats = floats
        """Attribute names of float parameters, to check for non-finite values after conversion."""


@cache
def _fast_plan(typ: type[msgspec.Struct]) -> _FastPlan | None:
    info = mi.type_info(typ)
    assert isinstance(info, mi.StructType)
    if info.forbid_unknown_fields:  # the fast path passes unknown parameters on for msgspec to skip
        return None
    kinds = {f.encode_name: (_kind(f.type), f.name) for f in info.fields}
    return _FastPlan(
        objects=tuple(wire for wire, (kind, _) in kinds.items() if kind == _OBJ),
        floats=tuple(attr for kind, attr in kinds.values() if kind == _FLOAT),
    )


def _decode_fast(raw: dict[str, Any], typ: type[S], fast: _FastPlan) -> S | None:
    """``typ`` from ``raw`` when no parameter needs more than JSON-in-string decoding; None otherwise."""
    clean = raw
    if None in raw.values():
        clean = {k: v for k, v in raw.items() if v is not None}
    for name in fast.objects:
        value = clean.get(name)
        if isinstance(value, str):
            if clean is raw:
                clean = dict(raw)
            stripped = value.strip()
            try:
                value = client_json.decode(stripped) if stripped else None
            except msgspec.DecodeError:
                return None
            if value is None:
                del clean[name]
            else:
                clean[name] = value
    try:
        decoded = msgspec.convert(clean, typ, strict=False)
    except msgspec.ValidationError:
        return None
    for attr in fast.floats:
        number = getattr(decoded, attr)
        if number is not None and not math.isfinite(number):
            return None
    when = getattr(decoded, "time", None)
    if when is not None and not EARLIEST <= when <= LATEST:
        return None
    return decoded


def _decode_strict(raw: dict[str, Any], typ: type[S]) -> S:
    plan = _plan(typ)
    clean: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        kind = plan.get(name)
        if kind is None:
            continue
        if kind == _OBJ and isinstance(value, str):
            value = _json_param(name, value)
            if value is None:
                continue
        elif kind == _STR and isinstance(value, int | float) and not isinstance(value, bool):
            value = repr(value) if isinstance(value, float) else str(value)
        elif kind == _FLOAT and not _finite(value):
            raise ApiError(f"Invalid value for parameter '{name}': expected a finite number, got {value!r}")
        clean[name] = value
    try:
        decoded = msgspec.convert(clean, typ, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(_explain(str(exc))) from None
    when = getattr(decoded, "time", None)
    if when is not None and not EARLIEST <= when <= LATEST:
        raise ApiError(f"Invalid value for parameter 'time': {when!r} is not seconds since 1970 (years 2000-2100)")
    return decoded


def _finite(value: Any) -> bool:
    """Strings like "nan" or "inf" would pass a lenient float conversion; JSON cannot store the result."""
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return True  # not a number at all: the conversion reports it with the parameter's name
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def _json_param(name: str, text: str) -> Any:
    stripped = text.strip()
    if stripped == "":
        return None
    try:
        return client_json.decode(stripped)
    except msgspec.DecodeError:
        raise ApiError(f"Invalid value for parameter '{name}': expected JSON, got {text[:60]!r}") from None


def _explain(message: str) -> str:
    missing = _MISSING.search(message)
    if missing:
        return f"Missing required parameter: {missing.group(1)}"
    where = _LOCATION.search(message)
    what = message.split(" - at ")[0]
    if where:
        return f"Invalid value for parameter '{where.group(1)}': {what}"
    return f"Invalid parameters: {what}"
