"""Reading a CSV import (API.md §6.8): the header names the parameters, each row is one action's parameters.

Header names are API parameter names, dots nesting them (``userAttributes.Gender`` gives
``{"userAttributes": {"Gender": ...}}``). Cells stay strings (the typed decoding takes numbers and booleans as
strings); an empty cell leaves its parameter out. Rows are numbered from 1, the first row after the header;
blank lines are skipped and not numbered. The file is read as a stream of chunks, never whole: UTF-8, with or
without a byte-order mark, any of the csv module's line endings, RFC 4180 quoting.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from openplum.services.blobs import Chunks

ACTION = "action"
MAX_COLUMNS = 1000
_UNDECODABLE = re.compile("[\udc80-\udcff]")
"""What ``surrogateescape`` turns bytes that are not UTF-8 into, so they are found in the row that has them."""


class CsvProblem(Exception):
    """The file cannot be imported at all (its header, its encoding, its size); the message says why."""


class _ChunkStream(io.RawIOBase):
    """The blob's chunks as a file object, so ``io.TextIOWrapper`` decodes them incrementally."""

    def __init__(self, chunks: Chunks) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        self._chunks.close()
        super().close()


@dataclass(frozen=True)
class Header:
    paths: tuple[tuple[str, ...], ...]
    """Each column's parameter path (``("userAttributes", "Gender")``)."""

    @property
    def has_action(self) -> bool:
        return (ACTION,) in self.paths


def parse_header(names: list[str], default_action: str | None) -> Header:
    if not names or all(not n.strip() for n in names):
        raise CsvProblem("The file has no header row: its first row must name the parameters.")
    if len(names) > MAX_COLUMNS:
        raise CsvProblem(f"Too many columns: {len(names)} (the limit is {MAX_COLUMNS}).")
    paths: list[tuple[str, ...]] = []
    for number, raw in enumerate(names, start=1):
        name = raw.strip()
        path = tuple(name.split("."))
        if not name or any(not part for part in path):
            raise CsvProblem(f"Column {number} of the header has an invalid name: {raw!r}.")
        paths.append(path)
    _check_overlaps(paths)
    header = Header(tuple(paths))
    if not default_action and not header.has_action:
        raise CsvProblem("Give defaultAction, or an 'action' column naming each row's action.")
    return header


def _check_overlaps(paths: list[tuple[str, ...]]) -> None:
    seen = set(paths)
    if len(seen) != len(paths):
        twice = next(p for p in paths if paths.count(p) > 1)
        raise CsvProblem(f"Column {'.'.join(twice)!r} appears twice in the header.")
    for path in paths:
        for cut in range(1, len(path)):
            if path[:cut] in seen:
                raise CsvProblem(f"Column {'.'.join(path)!r} nests inside column {'.'.join(path[:cut])!r}.")


def params_of(header: Header, cells: list[str], default_action: str | None) -> dict[str, Any] | str:
    """One row's parameters, or why the row cannot be read."""
    if len(cells) > len(header.paths):
        return f"The row has {len(cells)} cells but the header names {len(header.paths)} columns."
    params: dict[str, Any] = {}
    for path, value in zip(header.paths, cells, strict=False):
        if value == "":
            continue
        into = params
        for part in path[:-1]:
            into = into.setdefault(part, {})
        into[path[-1]] = value
    if not params.get(ACTION) and default_action:
        params[ACTION] = default_action
    return params


class CsvFile:
    """One pass over a CSV file: its header, then its rows."""

    def __init__(self, chunks: Chunks) -> None:
        self._raw = _ChunkStream(chunks)
        text = io.TextIOWrapper(io.BufferedReader(self._raw), encoding="utf-8-sig", errors="surrogateescape",
                                newline="")
        self._reader = csv.reader(text)
        self._number = 0

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def header(self, default_action: str | None) -> Header:
        first = self._next() or []
        _check_encoding(first, "The header")
        return parse_header(first, default_action)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cells) of every non-blank row after the header."""
        while (cells := self._next()) is not None:
            if cells:
                self._number += 1
                _check_encoding(cells, f"Row {self._number}")
                yield self._number, cells

    def _next(self) -> list[str] | None:
        try:
            return next(self._reader, None)
        except csv.Error as exc:
            raise CsvProblem(f"The file is not valid CSV (after row {self._number}): {exc}.") from None


def _check_encoding(cells: list[str], where: str) -> None:
    if _UNDECODABLE.search("".join(cells)):
        raise CsvProblem(f"{where} is not valid UTF-8: the file must be UTF-8.")


def count_rows(chunks: Chunks, default_action: str | None, limit: int) -> int:
    """Check the whole file (header, encoding, quoting, at most ``limit`` rows) before any row runs."""
    with CsvFile(chunks) as source:
        source.header(default_action)
        count = 0
        for count, _ in source.rows():
            if count > limit:
                raise CsvProblem(f"Too many rows: more than {limit} (OPENPLUM_IMPORT_MAX_ROWS).")
        return count
