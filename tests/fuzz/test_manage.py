"""The management API (``/manage/v1``) fuzzed by schemathesis from the OpenAPI document the server serves.

Every operation, with bodies and parameters valid and invalid by the schema, authenticated with an admin token;
path parameters point at a seeded app (and its real audiences, A/B tests and variables) half of the time, so
requests reach past "no such app". Checks (schemathesis's own): never a server error, documented statuses and
content types, responses that match their declared schema, authentication enforced where the document declares
it. One test per operation and backend; schemathesis's pytest plugin is not used (it does not run on pytest 9).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from openplum import __version__
from openplum.manage import app as _manage  # noqa: F401 - registers every route on ``routes``
from openplum.manage.registry import openapi
from openplum.manage.resources import routes
from openplum.services.apps import KeyClass
from tests.admin import MANAGE, open_admin
from tests.conftest import ApiClient, Server, create_test_app
from tests.fuzz.checks import FUZZ
from tests.fuzz.seed import DEVICES, VARIABLES, seed

pytestmark = pytest.mark.fuzz

EXAMPLES = max(5, int(os.environ.get("OPENPLUM_FUZZ_EXAMPLES", "200")) // 10)
"""Examples per operation: there are a few dozen, each gets a tenth of a property's budget."""

OPERATIONS = [(method.upper(), path) for path, ops in openapi(routes, MANAGE, __version__)["paths"].items()
              for method in ops]


@pytest.fixture(scope="session")
def manage_target(fuzz_server: Server) -> Iterator[dict[str, list[Any]]]:
    """A seeded app for the whole run, as values per path parameter that name things that exist."""
    with httpx.Client(base_url=fuzz_server.url, timeout=30) as http:
        api = ApiClient(fuzz_server, create_test_app(fuzz_server), http)
        seed(api)
        with open_admin(fuzz_server) as admin:
            app_id = api.app.app_id
            audiences = [a["id"] for a in admin.ok("GET", f"/apps/{app_id}/audiences")["audiences"]]
            tests = [t["id"] for t in admin.ok("GET", f"/apps/{app_id}/ab-tests")["abTests"]]
        yield {"appId": [app_id], "audienceId": audiences, "testId": tests, "name": list(VARIABLES),
               "keyClass": [k.value for k in KeyClass], "deviceId": list(DEVICES)}


@pytest.fixture(scope="session")
def manage_schema(fuzz_server: Server, manage_target: dict[str, list[Any]]) -> schemathesis.BaseSchema:
    """The served OpenAPI document, loaded by schemathesis, sending an admin token."""
    with open_admin(fuzz_server) as admin:
        token = admin.token
    config = schemathesis.Config.from_dict({
        "base-url": fuzz_server.url,
        "headers": {"Authorization": f"Bearer {token}"},
        "request-timeout": 10,
        # The schemas give each body's shape, not every rule the server checks (an audience rule's grammar, a
        # test's variants adding up): such a body is answered 400 naming the field, a documented answer. So
        # schema-valid data is not required to be accepted; every other check of schemathesis's stays on.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_url(fuzz_server.url + MANAGE + "/openapi.json", config=config)

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
        real = {k: st.sampled_from(manage_target[k]) for k in path_parameters or () if manage_target.get(k)}
        if not real:
            return st.just(path_parameters)
        aimed = st.fixed_dictionaries(real).map(lambda chosen: {**(path_parameters or {}), **chosen})
        return st.one_of(st.just(path_parameters), aimed)

    return schema


def test_the_served_document_is_valid_openapi_with_every_route(fuzz_server: Server,
                                                               manage_schema: schemathesis.BaseSchema) -> None:
    manage_schema.validate()  # against the OpenAPI 3.1 meta-schema
    served = httpx.get(fuzz_server.url + MANAGE + "/openapi.json").json()
    assert served == openapi(routes, MANAGE, __version__)


FUZZED = [(m, p) for m, p in OPERATIONS if p != MANAGE + "/openapi.json"]  # schemathesis skips its own source


@pytest.mark.parametrize(("method", "path"), FUZZED, ids=[f"{m} {p}" for m, p in FUZZED])
def test_operation_conforms_to_the_openapi_document(manage_schema: schemathesis.BaseSchema, method: str,
                                                    path: str) -> None:
    operation = manage_schema[path][method]
    cases = st.one_of(*(operation.as_strategy(mode, hooks=manage_schema.hooks)
                        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))

    @settings(FUZZ, max_examples=EXAMPLES)
    @given(case=cases)
    def exchange(case: schemathesis.Case) -> None:
        case.call_and_validate()

    exchange()
