"""Fixtures of the reliability tests: the server built to be overloaded (``tests.reliability.busy``)."""

from tests.reliability.busy import busy_api, busy_server

__all__ = ["busy_api", "busy_server"]
