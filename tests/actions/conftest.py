"""Fixtures of the action tests: the postback server, its receiver and admin client (``tests.postbacks``)."""

from tests.postbacks import pb_admin, pb_api, pb_server, receiver

__all__ = ["pb_admin", "pb_api", "pb_server", "receiver"]
