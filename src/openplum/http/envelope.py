"""Leanplum's response envelope (API.md §1.5): ``{"response": [item, ...]}``, never an empty array."""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def error_envelope(message: str) -> dict[str, Any]:
    return {"response": [{"success": False, "error": {"message": message}}]}


def encode(envelope: dict[str, Any]) -> bytes:
    if not envelope.get("response"):
        envelope = error_envelope("Empty batch: no actions to run.")
    return _encoder.encode(envelope)
