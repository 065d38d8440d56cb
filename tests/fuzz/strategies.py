"""Hostile input for ``/api``: JSON values, parameter dicts shaped by each action's struct, query strings, bodies.

Values mix what real clients send (numbers as strings, objects as JSON strings, "true"/"false") with what they
should never send: NaN-ish and huge numbers, integers past 64 bits, very long strings, NUL and unicode from every
plane, deep nesting, wrong types everywhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import msgspec.inspect as mi
from hypothesis import strategies as st

from openplum.actions.table import ACTIONS, ActionSpec
from tests.conftest import ApiClient
from tests.fuzz.seed import SEEDED

NAN_ISH = ("NaN", "nan", "-nan", "Infinity", "-Infinity", "inf", "-inf", "1e309", "-1e309", "1e-400", "0x10",
           "1_000", " 12 ", "+5", "-0", "١٢٣", "12abc", "", " ", "null", "None", "true", "false", "[]", "{}",
           "9" * 400, "1" + "0" * 30, "-9223372036854775809", "18446744073709551616")
"""Strings that a lenient number parser might take, or choke on."""

HUGE = (2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 2**53 + 1, 1e308, -1e308, 5e-324, 1.7976931348623157e308)

long_text = st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "😀", "\x00", "%", "\\", '"', "{", " "]),
                      st.sampled_from([1_000, 10_000, 100_000]))
scalar_text = st.one_of(st.text(max_size=40), st.sampled_from(NAN_ISH), st.text(st.characters(codec="utf-8"),
                                                                                  max_size=10))
numbers = st.one_of(st.integers(), st.sampled_from(HUGE), st.floats(allow_nan=False, allow_infinity=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, scalar_text)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(scalar_text, inner, max_size=4)),
    max_leaves=12,
)


@dataclass(frozen=True)
class Nested:
    """JSON text nested ``depth`` levels deep: a real nested value inside a JSON body, its text elsewhere."""

    depth: int
    kind: str

    @property
    def text(self) -> str:  # written directly: json.dumps of such a value would itself recurse too deep
        if self.kind == "list":
            return "[" * self.depth + "1" + "]" * self.depth
        return '{"k":' * self.depth + "1" + "}" * self.depth


nested = st.builds(Nested, st.sampled_from([40, 200, 600, 900, 950, 1_000, 5_000]), st.sampled_from(["list", "object"]))
nested_texts = nested.map(lambda n: n.text)

hostile: st.SearchStrategy[Any] = st.one_of(
    json_values,
    json_values.map(lambda v: json.dumps(v)),  # an object (or anything) as a JSON string, as SDKs send objects
    st.sampled_from(NAN_ISH),
    st.sampled_from(HUGE),
    st.sampled_from(HUGE).map(str),
    long_text,
    nested,
    nested_texts,
)
"""One parameter's value."""


INT_EDGES = (0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64)
"""Integers at the edges of what a store column, a JSON number or a C long holds."""


def edges(t: mi.Type) -> st.SearchStrategy[Any]:
    """Values at the edges of what a parameter of type ``t`` accepts, and just past them."""
    if isinstance(t, mi.UnionType):
        return st.one_of(*(edges(x) for x in t.types))
    if isinstance(t, mi.IntType):
        return st.one_of(st.sampled_from(INT_EDGES), st.sampled_from(INT_EDGES).map(str))
    if isinstance(t, mi.FloatType):
        return st.one_of(st.sampled_from(NAN_ISH), st.sampled_from(HUGE), st.sampled_from(INT_EDGES))
    if isinstance(t, mi.BoolType):
        return st.sampled_from([True, False, "true", "false", "1", "0", "TRUE", "yes", 1, 0, 2, -1, ""])
    if isinstance(t, mi.LiteralType):
        values = [str(v) for v in t.values]
        return st.sampled_from([*values, *(v.lower() for v in values), *(v.upper() for v in values), " "])
    if isinstance(t, mi.StrType):
        return st.one_of(long_text, st.sampled_from(["", " ", "\x00", "../../etc/passwd", "a/b", "%00", "null"]))
    if isinstance(t, mi.NoneType | mi.AnyType):
        return st.nothing()
    return st.one_of(nested, st.sampled_from(["[]", "{}", "[null]", '{"": null}', "[[]]", 0, "x"]))  # containers


def field_types(spec: ActionSpec) -> dict[str, mi.Type]:
    """The wire names of the action's parameters and their types, from its msgspec struct."""
    info = mi.type_info(spec.params)
    assert isinstance(info, mi.StructType)
    return {f.encode_name: f.type for f in info.fields}


def value_for(name: str, t: mi.Type | None = None) -> st.SearchStrategy[Any]:
    """A parameter's value: seeded (an existing user, file...), at the edges of its type, or hostile."""
    choices = [hostile] if t is None else [hostile, edges(t), edges(t)]  # edges find more per example
    seeded = SEEDED.get(name)
    values = st.one_of(*choices)
    return values if seeded is None else st.one_of(st.sampled_from(seeded), values)


def params_for(spec: ActionSpec, extra: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Parameters of ``spec``'s action: a random subset of its real names with random values, plus a stray name."""
    chosen = st.fixed_dictionaries({}, optional={n: value_for(n, t) for n, t in field_types(spec).items()})
    stray = st.dictionaries(st.text(max_size=12), hostile, max_size=2)
    return st.builds(lambda own, more: {**more, **own, **(extra or {})}, chosen, stray)


implemented = sorted(name for name, spec in ACTIONS.items() if spec.implemented and name != "multi")
every_action = sorted(ACTIONS)
action_names = st.one_of(st.sampled_from(every_action), st.sampled_from(every_action), st.text(max_size=20))


def right_key(api: ApiClient, spec: ActionSpec | None) -> str:
    """The key of the class the action needs (production when there is no such action)."""
    keys = {"PRODUCTION": api.app.production, "DEVELOPMENT": api.app.development,
            "DATA_EXPORT": api.app.data_export, "CONTENT_READ_ONLY": api.app.content_read_only}
    return keys[spec.key_class.name] if spec is not None else api.app.production


def key_for(api: ApiClient, spec: ActionSpec | None) -> st.SearchStrategy[str]:
    """Mostly the key the action needs, sometimes another class's, sometimes a made-up one."""
    keys = [api.app.production, api.app.development, api.app.data_export, api.app.content_read_only]
    wanted = right_key(api, spec)
    return st.one_of(st.just(wanted), st.just(wanted), st.just(wanted), st.sampled_from(keys), st.text(max_size=30))


@st.composite
def action_call(draw: st.DrawFn, api: ApiClient, names: list[str]) -> dict[str, Any]:
    """One action's full parameters: credentials, its name, and its random parameters."""
    name = draw(st.sampled_from(names))
    spec = ACTIONS[name]
    params = draw(params_for(spec))
    params.update(appId=api.app.app_id, clientKey=draw(key_for(api, spec)), action=name)
    return params


@st.composite
def batch_item(draw: st.DrawFn, api: ApiClient) -> Any:
    """One item of a ``multi``: mostly an action's parameters, sometimes garbage where an object belongs."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(json_values)
    name = draw(st.one_of(st.sampled_from(implemented), action_names))
    spec = ACTIONS.get(name) if isinstance(name, str) else None
    item: dict[str, Any] = draw(params_for(spec)) if spec is not None else draw(st.dictionaries(scalar_text, hostile,
                                                                                                max_size=4))
    item["action"] = name
    if kind == 1:  # items may carry their own (other) credentials
        item["clientKey"] = draw(key_for(api, spec))
        item["appId"] = draw(st.sampled_from([api.app.app_id, "app_other", ""]))
    return item


# -- the wire ------------------------------------------------------------------------------------------


def as_text(value: Any) -> str:
    """A parameter as it travels in a query string or a form: text, objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return _json(value)


def dumps(value: Any) -> bytes:
    """JSON, NaN and Infinity literals included (they are not JSON: the server must say so)."""
    return _json(value).encode("utf-8", "surrogatepass")


def _json(value: Any) -> str:
    """``json.dumps``, with each ``Nested`` written as its (deep) JSON text in place."""
    found: list[Nested] = []

    def mark(obj: Any) -> Any:
        if isinstance(obj, Nested):
            found.append(obj)
            return f"\x00nested{len(found) - 1}\x00"
        raise TypeError(f"not JSON: {obj!r}")

    text = json.dumps(value, allow_nan=True, default=mark)
    for i, item in enumerate(found):
        text = text.replace(json.dumps(f"\x00nested{i}\x00"), item.text)
    return text


def form(params: dict[str, Any]) -> bytes:
    return urlencode({k: as_text(v) for k, v in params.items()}, encoding="utf-8", errors="surrogatepass").encode()


_PCT = st.builds(lambda b: f"%{b:02X}", st.integers(0, 255))
_QUERY_CHARS = st.one_of(st.sampled_from(list("=&;+?#[]{}\"' ax_-.~!$'()*,/:@")), _PCT,
                         st.characters(min_codepoint=0x21, max_codepoint=0x7E))
raw_query = st.lists(_QUERY_CHARS, max_size=60).map("".join)
"""A query string of any shape (percent-escapes of any byte, stray separators) that still fits a request line."""


def query_of(params: dict[str, Any]) -> str:
    return "&".join(f"{quote(str(k), safe='')}={quote(as_text(v), safe='', errors='surrogatepass')}"
                    for k, v in params.items())


CONTENT_TYPES = (
    "application/json", "application/json; charset=utf-8", "text/plain", "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=fuzzb", "multipart/form-data",
    "multipart/form-data; boundary=", "text/csv", "application/csv", "", "application/octet-stream",
    "multipart/mixed; boundary=fuzzb", "application/json; boundary=fuzzb", "text/csv; charset=latin-1",
)
content_types = st.one_of(st.sampled_from(CONTENT_TYPES), st.text(st.characters(min_codepoint=0x20,
                                                                                max_codepoint=0x7E), max_size=40)
                          .map(str.strip))  # HTTP forbids a header value's outer spaces: the client refuses them


@st.composite
def multipart_body(draw: st.DrawFn, boundary: str = "fuzzb") -> bytes:
    """Parts with random names, filenames, types and bytes; sometimes truncated or missing its end."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 5))):
        out += f"--{boundary}\r\n".encode()
        name = draw(st.one_of(st.sampled_from(["data", "file", "file0", "file1", "action", "filename", "size",
                                               "hash", "appId", "clientKey", ""]), st.text(max_size=10)))
        disposition = f'form-data; name="{name}"'
        if draw(st.booleans()):
            disposition += f'; filename="{draw(st.text(max_size=20))}"'
        headers = [f"Content-Disposition: {disposition}"]
        if draw(st.booleans()):
            headers.append(f"Content-Type: {draw(content_types)}")
        out += "\r\n".join(headers).encode("utf-8", "surrogatepass") + b"\r\n\r\n"
        out += draw(st.one_of(st.binary(max_size=200), hostile.map(as_text).map(
            lambda s: s.encode("utf-8", "surrogatepass"))))
        out += b"\r\n"
    ending = draw(st.sampled_from([f"--{boundary}--\r\n".encode(), b"", f"--{boundary}".encode(), b"--"]))
    return bytes(out + ending)


def csv_body(params: list[dict[str, Any]]) -> bytes:
    """Rows of a CSV import: a header of every name used, then each item's values."""
    names = list(dict.fromkeys(k for p in params for k in p))
    lines = [",".join(json.dumps(n) for n in names)]
    for p in params:
        lines.append(",".join(json.dumps(as_text(p.get(n, ""))) for n in names))
    return "\n".join(lines).encode("utf-8", "surrogatepass")
