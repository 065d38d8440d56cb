"""Merge a request's parameters from every place Leanplum clients put them (API.md §1.2).

Query string, then the body: JSON (whatever the content type says, as the JS SDK sends ``text/plain``),
``application/x-www-form-urlencoded``, ``multipart/form-data`` (text fields and file parts), or a raw CSV body.
Body values win over query values with the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from python_multipart.multipart import MultipartParser, parse_options_header

from openplum import client_json
from openplum.client_text import may_hold_nul
from openplum.errors import RequestRejected


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


class RequestParams:
    """A request's parameters as parsed at the edge. A plain class rather than a dataclass: compiled, a
    dataclass's generated ``__init__`` still runs as interpreted code, and every request makes one."""

    def __init__(self, params: dict[str, Any], nul_possible: bool) -> None:
        self.params = params
        self.nul_possible = nul_possible
        """Whether a parameter might hold a NUL character (``client_text``); when False none can."""
        self.files: list[UploadedFile] = []
        self.csv: bytes | None = None
        self.base_url: str | None = None
        """This server's absolute base URL as the request reached it (set by the app, never from parameters)."""


def parse_query(query: bytes, limit: int) -> dict[str, Any]:
    """The parameters of a query string or form body, as ``urllib.parse.parse_qsl`` reads them (blank values
    kept, the last of a repeated name wins). Text with nothing escaped, what SDKs send most, is split directly."""
    if not query:
        return {}
    if query.find(b"%") < 0 and query.find(b"+") < 0:  # ``find``, not ``in``: see ``client_text.may_hold_nul``
        try:
            text = query.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestRejected(400, "Parameters are not valid UTF-8.") from None
        if text.count("&") >= limit:
            raise RequestRejected(400, f"Too many parameters (more than {limit}).")
        out: dict[str, Any] = {}
        for part in text.split("&"):
            if part:
                name, _, value = part.partition("=")
                out[name] = value
        return out
    try:
        pairs = parse_qsl(query.decode("utf-8"), keep_blank_values=True, max_num_fields=limit, errors="strict")
    except UnicodeDecodeError:  # a ValueError too: it must be caught first
        raise RequestRejected(400, "Parameters are not valid UTF-8.") from None
    except ValueError:
        raise RequestRejected(400, f"Too many parameters (more than {limit}).") from None
    return dict(pairs)


def parse_request(query: bytes, content_type: str, body: bytes, max_params: int,
                  query_params: dict[str, Any] | None = None) -> RequestParams:
    """The request's parameters; ``query_params`` is ``query`` already parsed, when the caller has it."""
    params = parse_query(query, max_params) if query_params is None else query_params
    out = RequestParams(params, may_hold_nul(query, body))
    if not body.strip():
        return out
    mime, options = parse_options_header(content_type)
    mime_s = mime.decode("latin-1").lower() if isinstance(mime, bytes) else str(mime).lower()
    if mime_s == "multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise RequestRejected(400, "multipart/form-data body without a boundary.")
        fields, files = _parse_multipart(body, boundary, max_params)
        out.params.update(fields)
        out.files = files
    elif mime_s == "application/x-www-form-urlencoded" and not body.lstrip().startswith((b"{", b"[")):
        # Python's urllib labels any POST body a form; Leanplum's own samples send JSON that way. A form
        # field never starts with '{' or '[', so such a body is read as JSON below.
        out.params.update(parse_query(body, max_params))
    elif mime_s in ("text/csv", "application/csv"):
        out.csv = body
    else:
        out.params.update(_parse_json_body(body, max_params))
    if len(out.params) > max_params:
        raise RequestRejected(400, f"Too many parameters (more than {max_params}).")
    return out


def _parse_json_body(body: bytes, max_params: int) -> dict[str, Any]:
    try:
        value = client_json.decode(body)
    except msgspec.DecodeError as exc:
        raise RequestRejected(400, f"Malformed JSON body: {exc}") from None
    if isinstance(value, list):  # a bare list of actions is a multi batch
        return {"data": value}
    if not isinstance(value, dict):
        raise RequestRejected(400, "The JSON body must be an object of parameters.")
    return value


class _PartCollector:
    def __init__(self, max_parts: int) -> None:
        self.max_parts = max_parts
        self.parts: list[tuple[dict[bytes, bytes], bytearray]] = []
        self._header_field = bytearray()
        self._header_value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.begin,
            "on_part_data": self.data,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self.header_end,
        }

    def begin(self) -> None:
        if len(self.parts) >= self.max_parts:
            raise RequestRejected(400, f"Too many parameters (more than {self.max_parts}).")
        self.parts.append(({}, bytearray()))

    def data(self, data: bytes, start: int, end: int) -> None:
        self.parts[-1][1].extend(data[start:end])

    def header_end(self) -> None:
        self.parts[-1][0][bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()


def _parse_multipart(body: bytes, boundary: bytes, max_params: int) -> tuple[dict[str, Any], list[UploadedFile]]:
    collector = _PartCollector(max_params)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except RequestRejected:
        raise
    except Exception as exc:
        raise RequestRejected(400, f"Malformed multipart body: {exc}") from None
    fields: dict[str, Any] = {}
    files: list[UploadedFile] = []
    for headers, data in collector.parts:
        _, disp = parse_options_header(headers.get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            continue
        filename = disp.get(b"filename")
        if filename is not None:
            ctype = headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
            files.append(UploadedFile(name, filename.decode("utf-8", "replace"), ctype, bytes(data)))
        else:
            try:
                fields[name] = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                raise RequestRejected(400, f"Form field {name!r} is not valid UTF-8.") from None
    return fields, files
