"""The garbage collector's settings for a serving process: ``collector.settle`` and ``create_app``."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from openplum import collector
from openplum.app import create_app
from openplum.settings import Settings


@pytest.fixture
def restored() -> Iterator[None]:
    """The test process's collector as it was, whatever the test did to it."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_freezes_what_the_process_holds_and_spaces_collections_out(restored: None) -> None:
    collector.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (collector.YOUNG, *collector.OLDER)


def test_cycles_made_after_settling_are_still_collected(restored: None) -> None:
    collector.settle()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None


def test_the_served_app_is_built_with_the_collector_settled(restored: None, tmp_path: Path) -> None:
    create_app(Settings(data_dir=tmp_path))
    assert gc.get_threshold() == (collector.YOUNG, *collector.OLDER)
    assert gc.get_freeze_count() > 0
