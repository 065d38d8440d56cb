"""The store fixtures for every store test module."""

from tests.store.stores import make_pg_store, make_store

__all__ = ["make_pg_store", "make_store"]
