"""Reading a CSV import: the header names parameters (dots nest them), cells stay strings, empty cells are left
out, rows are numbered from the first after the header, and the file streams in chunks of any size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openplum.services.blobs import Chunks
from openplum.services.import_csv import CsvFile, CsvProblem, count_rows, params_of, parse_header


def chunks(data: bytes, size: int) -> Chunks:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def read(data: bytes, size: int = 3, default: str | None = "track") -> Iterator[tuple[int, dict[str, object] | str]]:
    with CsvFile(chunks(data, size)) as source:
        header = source.header(default)
        for number, cells in source.rows():
            yield number, params_of(header, cells, default)


def test_dots_nest_parameters_and_cells_stay_strings() -> None:
    header = parse_header(["userId", "userAttributes.Gender", "userAttributes.geo.city", "value"], "track")

    params = params_of(header, ["u1", "f", "Lyon", "9.5"], "track")

    assert params == {"userId": "u1", "userAttributes": {"Gender": "f", "geo": {"city": "Lyon"}}, "value": "9.5",
                      "action": "track"}


def test_empty_cells_and_missing_trailing_cells_are_left_out() -> None:
    header = parse_header(["userId", "event", "params.a"], "track")

    assert params_of(header, ["u1", ""], "track") == {"userId": "u1", "action": "track"}


def test_a_rows_own_action_wins_over_the_default() -> None:
    header = parse_header(["action", "userId"], "track")

    assert params_of(header, ["advance", "u"], "track")["action"] == "advance"
    assert params_of(header, ["", "u"], "track")["action"] == "track"


def test_a_row_with_more_cells_than_columns_cannot_be_read() -> None:
    header = parse_header(["userId"], "track")

    assert params_of(header, ["u", "extra"], "track") == "The row has 2 cells but the header names 1 columns."


@pytest.mark.parametrize(("names", "default", "message"), [
    ([], "track", "no header row"),
    (["userId", " "], "track", "Column 2 of the header has an invalid name"),
    (["a.", "b"], "track", "Column 1 of the header has an invalid name"),
    (["userId", "userId "], "track", "'userId' appears twice"),
    (["userAttributes.a.b", "userAttributes.a"], "track", "nests inside column 'userAttributes.a'"),
    (["userId"], None, "Give defaultAction, or an 'action' column"),
    ([f"c{i}" for i in range(1001)], "track", "Too many columns: 1001"),
])
def test_headers_that_cannot_be_imported(names: list[str], default: str | None, message: str) -> None:
    with pytest.raises(CsvProblem, match=message):
        parse_header(names, default)


@pytest.mark.parametrize("size", [1, 2, 5, 64 * 1024])
def test_the_file_streams_in_chunks_of_any_size(size: int) -> None:
    data = '\ufeffuserId,params.note\r\nü-1,"é, ""quoted""\nover two lines"\r\n\r\nü-2,日本\n'.encode()

    assert list(read(data, size)) == [
        (1, {"userId": "ü-1", "params": {"note": 'é, "quoted"\nover two lines'}, "action": "track"}),
        (2, {"userId": "ü-2", "params": {"note": "日本"}, "action": "track"}),
    ]


def test_bytes_that_are_not_utf8_are_found_in_their_row() -> None:
    data = b"userId\nu1\nu\xe92\n"

    with pytest.raises(CsvProblem, match="Row 2 is not valid UTF-8"):
        list(read(data))


def test_counting_checks_the_whole_file_against_the_limit() -> None:
    data = b"userId\n" + b"".join(b"u%d\n" % n for n in range(10))

    assert count_rows(chunks(data, 7), "track", 10) == 10
    with pytest.raises(CsvProblem, match="Too many rows: more than 9"):
        count_rows(chunks(data, 7), "track", 9)
