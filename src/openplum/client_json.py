"""JSON text that came from a client, decoded safely.

msgspec signals nesting deeper than it can follow with ``RecursionError``, not ``DecodeError``. Everything that
decodes client text (a request body, a parameter holding JSON) goes through ``decode`` so that such text is
a client error like any other malformed JSON, never a server error.
"""

from __future__ import annotations

from typing import Any

import msgspec


def decode(text: str | bytes) -> Any:
    """The value of JSON ``text``; raises ``msgspec.DecodeError`` for anything that is not JSON, too deep included."""
    try:
        return msgspec.json.decode(text)
    except RecursionError:
        raise msgspec.DecodeError("JSON is nested too deeply") from None
