"""Which time a tracked action happened at.

SDKs stamp every queued call with the client clock (``time``) and the whole upload with the clock at send time.
The difference between the upload's stamp and the server clock is the client's skew; applying it to each item
keeps an offline queue's real spacing even when the device clock is wrong. A single call's ``time`` is taken as
given (server-to-server callers send past event times). Times never land in the future.
"""

from __future__ import annotations

_FUTURE_SLACK = 60.0


EARLIEST = 946_684_800.0
LATEST = 4_102_444_800.0
"""Times outside 2000-2100 are unit mistakes (milliseconds, zero, a negative offset) and are refused at the
edge (``actions.params``) rather than recorded."""


def event_time(item_time: float | None, request_time: float | None, now: float) -> float:
    if item_time is None:
        return now
    when = item_time
    if request_time is not None:
        when = item_time + (now - request_time)
    return when if when <= now + _FUTURE_SLACK else now
