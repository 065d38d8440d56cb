"""Where a user falls in a running A/B test (``services/experiments.py`` has the rule): whether they take part,
and in which variant. Apart from the tests' structs, so that it can be compiled (``setup.py``)."""

from __future__ import annotations

import hashlib
from typing import Any

from openplum.services.experiments import AbTest


def _seeded(purpose: str, app_id: str, test_id: int) -> Any:
    """SHA-256 having read ``purpose``, the app and the test: each user's hash continues from a copy of it."""
    return hashlib.sha256(f"{purpose}\x1f{app_id}\x1f{test_id}\x1f".encode())


class Placement:
    """Where users fall in one running test: whether they take part, and in which variant. What every user
    shares (the seeded hashes, the total weight) is worked out once; a snapshot keeps one per running test.

    At 100 % traffic every user takes part, without hashing: the traffic hash is below 1, so the check could
    only fail for a user whose 64-bit hash rounds up to 1.0 as a float, one in about 2**53.
    """

    __slots__ = ("_total", "_traffic", "_traffic_seed", "_variant_seed", "_variants")

    def __init__(self, app_id: str, test: AbTest) -> None:
        self._traffic = test.traffic
        self._traffic_seed = None if test.traffic >= 100.0 else _seeded("traffic", app_id, test.id)
        self._variant_seed = _seeded("variant", app_id, test.id)
        self._variants = test.variants
        self._total = sum(v.weight for v in test.variants)

    def in_traffic(self, user_id: str) -> bool:
        seed = self._traffic_seed
        return seed is None or _place(seed, user_id) * 100.0 < self._traffic

    def pick(self, user_id: str) -> int | None:
        """The index in the test's variants of the user's variant (None when no variant has any weight)."""
        if self._total <= 0:
            return None
        point = _place(self._variant_seed, user_id) * self._total
        for index, variant in enumerate(self._variants):
            point -= variant.weight
            if point < 0:
                return index
        return len(self._variants) - 1


def _place(seed: Any, user_id: str) -> float:
    """Where the user falls in [0, 1) for this test and purpose: the first 8 bytes of SHA-256 over the purpose,
    the app, the test and the user joined by U+001F, so a user's place never changes while the test runs."""
    hasher = seed.copy()
    hasher.update(user_id.encode())
    return int.from_bytes(hasher.digest()[:8], "big") / 2**64
