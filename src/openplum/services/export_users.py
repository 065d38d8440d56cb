"""``exportUsers`` (API.md §6.7, EXPORT-FORMAT.md §7): the users of an audience, of an A/B test, or all of them.

Profiles are read a page at a time in user-id order and each is decided on its own, so memory stays flat. The
filters combine: ``audienceName`` keeps the users its rule matches now; ``abTestId`` keeps the users exposed to
the test and adds their ``variantId`` and ``variantName``; ``userAttribute`` adds that attribute's value (empty
when the user has none) without filtering. The file is CSV with a header, ``userId`` first, one row per user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from openplum.services import experiments
from openplum.services import profile as profiles
from openplum.services.audiences import Audience, RuleError, parse_audience
from openplum.services.experiments import AbTest
from openplum.services.export_sessions import Db, ExportError
from openplum.store.base import Tx

PAGE = 500
"""Profiles per page."""


@dataclass(frozen=True)
class UserQuery:
    audience: Audience | None
    test: AbTest | None
    attribute: str | None

    @property
    def columns(self) -> list[str]:
        out = ["userId"]
        if self.test is not None:
            out += ["variantId", "variantName"]
        if self.attribute:
            out.append(self.attribute)
        return out


def find_audience(tx: Tx, app_id: str, name: str) -> Audience:
    for row in tx.list_audiences(app_id):
        if row.name == name:
            try:
                return parse_audience(row.name, msgspec.json.decode(row.rule), row.audience_id)
            except RuleError as exc:
                raise ExportError(f"The audience {name!r} has a rule openplum cannot read: {exc}") from None
    raise ExportError(f"No audience named {name!r}")


def find_test(tx: Tx, app_id: str, test_id: int) -> AbTest:
    for row in tx.list_ab_tests(app_id):
        if row.test_id == test_id:
            return experiments.decode(row.doc)
    raise ExportError(f"No A/B test with id {test_id}")


def query(tx: Tx, app_id: str, params: dict[str, Any]) -> UserQuery:
    """The filters of an ``exportUsers`` job (as ``actions.export`` stored them); unknown names raise."""
    name, test_id = params.get("audienceName"), params.get("abTestId")
    audience = find_audience(tx, app_id, str(name)) if name else None
    test = find_test(tx, app_id, int(test_id)) if test_id is not None else None
    return UserQuery(audience, test, params.get("userAttribute") or None)


def rows(db: Db, app_id: str, wanted: UserQuery, now: float, page: int = PAGE) -> Iterator[list[Any]]:
    """One row (values in ``wanted.columns`` order) per user who passes the filters, in user-id order."""
    after: str | None = None
    while True:
        docs = db.read(_page(app_id, after, page))
        for user_id, doc in docs:
            row = _row(profiles.decode(doc), wanted, now)
            if row is not None:
                yield [user_id, *row]
        if len(docs) < page:
            return
        after = docs[-1][0]


def _page(app_id: str, after: str | None, size: int) -> Callable[[Tx], list[tuple[str, bytes]]]:
    def read(tx: Tx) -> list[tuple[str, bytes]]:
        return tx.profile_page(app_id, after, size)

    return read


def _row(user: profiles.Profile, wanted: UserQuery, now: float) -> list[Any] | None:
    if wanted.audience is not None and not wanted.audience.matches(user, now):
        return None
    out: list[Any] = []
    if wanted.test is not None:
        variant_id = user.exposures.get(str(wanted.test.id))
        if variant_id is None:
            return None
        variant = wanted.test.variant(variant_id)
        out += [variant_id, variant.name if variant is not None else None]
    if wanted.attribute:
        out.append(user.attributes.get(wanted.attribute))
    return out
