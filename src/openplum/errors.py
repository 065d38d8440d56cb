"""Errors raised inside openplum that the API envelope turns into Leanplum's response shape.

``ApiError`` fails one action (an item inside a 200 response); ``RequestRejected`` fails the whole HTTP request
with a status code. Both carry the message clients see, so no layer below ``http`` formats responses.
"""

from __future__ import annotations


class ApiError(Exception):
    """One action failed: answered as ``{"success": false, "error": {"message": ...}}`` inside the batch."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        """The HTTP status when this action was the whole request (inside a batch the status is 200)."""


class RequestRejected(Exception):
    """The whole request is refused with an HTTP status (auth, limits, overload)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Overloaded(RequestRejected):
    """The server cannot take more work right now; SDKs retry on 503."""

    def __init__(self, message: str = "Server is busy; retry later.") -> None:
        super().__init__(503, message)


class StoreUnavailable(RequestRejected):
    """The store cannot be reached; retryable."""

    def __init__(self, message: str = "Storage is unavailable; retry later.") -> None:
        super().__init__(503, message)
