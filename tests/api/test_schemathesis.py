"""Schemathesis over the whole OpenAPI document, in-process, against the real database and Redis.

The document is the one the app serves (GET /api/v1/schema/ through WSGI); every operation in it is
one test, called with data generated from the document, valid and invalid, as the agency admin of
the fixture world (tests/api/conftest.py). Path ids of valid requests point at the world's own
objects, so that retrieves, updates and actions reach real rows instead of 404s.

Checks: no 5xx; status codes, content types, headers and bodies conform to the document; invalid
data is refused. Bounded for `make test`: a fixed seed, few examples per operation and mode, no
shrinking, no example database on disk. (Schemathesis's own pytest loader, `from_fixture`, does
not run on pytest 9, so each operation drives Hypothesis itself through `as_strategy`.)

A 5xx is a bug: the failure names the request as a curl command.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import negative_data_rejection

from config.wsgi import application
from tests.api.conftest import World

SEED = 20240601
# Per operation and mode (valid, invalid); SCHEMATHESIS_EXAMPLES=200 for a deeper run by hand.
EXAMPLES_PER_MODE = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

CHECKS = {
    "not_a_server_error": {"enabled": True},
    "status_code_conformance": {"enabled": True},
    "content_type_conformance": {"enabled": True},
    "response_headers_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    # Preconditions are evaluated before the body (RFC 9110 13.2.2): a stale If-Match refuses
    # invalid data with 412, which is a refusal too.
    "negative_data_rejection": {
        "enabled": True,
        "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 412, 415, 422, 428, 429],
    },
    # Valid data can still be refused by rules the document cannot express (a unique name, a
    # campaign's state): acceptance of valid data is what the matrix and the behaviour tests check.
    "positive_data_acceptance": {"enabled": False},
    # Checks that re-send requests with other credentials or after a delete: the tenant matrix
    # covers authorisation with real tenants.
    "use_after_free": {"enabled": False},
    "ensure_resource_availability": {"enabled": False},
    "ignored_auth": {"enabled": False},
}


def documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the document, read at collection (no database needed)."""
    from drf_spectacular.generators import SchemaGenerator

    with contextlib.redirect_stderr(io.StringIO()):  # generator warnings belong to `manage.py spectacular`
        document = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


OPERATIONS = documented_operations()

# Operations that fail because of a bug in a file these tests do not own: "METHOD path" -> reason.
KNOWN_BUGS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(django_db_setup: Any, django_db_blocker: Any) -> Any:
    config = SchemathesisConfig.from_dict({"seed": SEED, "checks": CHECKS})
    with django_db_blocker.unblock():  # the request's signals touch the connection; no query runs
        return schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=config)


@pytest.fixture
def fuzzed_world(committed_world: World, settings: Any) -> World:
    # Hundreds of calls from one key: the limits have their own tests (test_rate_limits.py).
    settings.API_RATE_LIMIT_PER_KEY = 0
    settings.API_RATE_LIMIT_PER_ADVERTISER = 0
    return committed_world


def _target_id(world: World, path: str) -> int | None:
    """The id of the world's object that the `{id}` of this path names."""
    try:
        match = resolve(path.replace("{id}", "1"))
    except Resolver404:
        return None
    queryset = getattr(getattr(match.func, "cls", None), "queryset", None)
    return None if queryset is None else world.mine.object_of(queryset.model).pk


def _params() -> list[Any]:
    params = []
    for method, path in OPERATIONS:
        label = f"{method} {path}"
        bug = KNOWN_BUGS.get(label)
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        params.append(pytest.param(method, path, marks=marks, id=label))
    return params


def _curl(case: Any, headers: dict[str, str]) -> str:
    command = case.as_curl_command(headers=headers)
    return command.replace(headers["Authorization"], "Bearer <agency admin key>")


@pytest.mark.parametrize(("method", "path"), _params())
def test_operation(api_schema: Any, fuzzed_world: World, method: str, path: str) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {fuzzed_world.tokens['agency']}"}
    # Every distinct failure (check, status), with the first request that showed it: Hypothesis
    # would stop at the first, hiding the others behind it.
    found: dict[tuple[str, str, int], str] = {}
    # Ids name the world's objects in both modes: an id that is not digits only reaches the
    # catch-all 404 for unknown paths, which test_errors.py covers for every method.
    path_parameters = {"id": str(_target_id(fuzzed_world, path))} if "{id}" in path else None
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        run_mode(operation, mode, path_parameters, headers, found)
    report = [
        f"[{mode} data] {title} ({status}): {detail}" for (mode, title, status), detail in found.items()
    ]
    assert not report, "\n\n".join(report)


def run_mode(
    operation: Any,
    mode: GenerationMode,
    path_parameters: dict[str, str] | None,
    headers: dict[str, str],
    found: dict[tuple[str, str, int], str],
) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    # A bulk request answers 200 with a result per item, an invalid item's error among them.
    bulk = operation.path.endswith("/bulk/")

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and case.headers and "If-Match" in case.headers:
            # A generated ETag never matches: valid bodies would all stop at 412.
            case.headers["If-Match"] = "*"
        excluded = []
        # An empty form body is "null" to Schemathesis and an empty PATCH (a no-op) to HTTP; an
        # empty form field of a PATCH, or an empty query parameter (`?status=`), is "not given", as
        # in HTML forms (DRF and django-filter read them so).
        form = "json" not in str(case.media_type)
        empty_form = form and (not case.body or (isinstance(case.body, dict) and "" in case.body.values()))
        empty_query = any(v == "" or (isinstance(v, list) and "" in v) for v in (case.query or {}).values())
        if mode is GenerationMode.NEGATIVE and (bulk or empty_form or empty_query):
            excluded.append(negative_data_rejection)
        response = case.call(headers=headers)
        try:
            case.validate_response(response, headers=headers, excluded_checks=excluded)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = (mode.value, failure.title, response.status_code)
                found.setdefault(key, f"{failure.message.strip()}\n    {_curl(case, headers)}")

    run()
