"""One error shape on every kind of error (accounts/api/errors.py):

    {"error": {"code": "...", "message": "...", "fields": {"targeting.countries[2]": ["..."]}}}

with the right status, and `fields` naming each offending input by its path in the body.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Role
from tests.api.conftest import World, error_of
from tests.factories import UserFactory

EVENTS = "/api/v1/conversion-events/"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = error_of(response)
    assert error["code"] == code, error
    return error


# 400 ------------------------------------------------------------------------------------------------


def test_400_names_every_invalid_field(world: World) -> None:
    response = world.client("owner_key").post(
        EVENTS, {"advertiser": world.mine.advertiser.pk, "click_window_days": 500}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"name", "category", "click_window_days"}
    assert error["message"] == "3 fields are not valid."


def test_400_with_one_field_says_which_in_the_message(world: World) -> None:
    body = {"advertiser": world.mine.advertiser.pk, "name": "Lead", "category": "nope"}
    error = assert_error(world.client("owner_key").post(EVENTS, body, format="json"), 400, "invalid")
    assert list(error["fields"]) == ["category"]
    assert error["message"].startswith("category: ")


def test_400_names_nested_fields_by_path(world: World) -> None:
    body = {
        "campaign": world.mine.campaign.pk,
        "name": "Walkers",
        "bid_strategy": "manual_cpm",
        "bid_micros": 1_000_000,
        "targeting": {"countries": ["US", "FR", "XX"]},
    }
    error = assert_error(
        world.client("owner_key").post("/api/v1/ad-groups/", body, format="json"), 400, "invalid"
    )
    assert list(error["fields"]) == ["targeting.countries[2]"], error


def test_400_model_rules_name_their_field(world: World) -> None:
    """The model's own validation (shared with the forms) answers through the same shape."""
    body = {
        "advertiser": world.mine.advertiser.pk,
        "name": "Forever",
        "objective": "awareness",
        "budget_type": "lifetime",
        "budget_micros": 10_000_000,
    }
    error = assert_error(
        world.client("owner_key").post("/api/v1/campaigns/", body, format="json"), 400, "invalid"
    )
    assert "ends_at" in error["fields"]


def test_400_for_a_foreign_id_in_the_body(world: World) -> None:
    """Another tenant's parent reads as unknown: 400 naming the field, never 403 or 404."""
    body = {
        "campaign": world.other.campaign.pk,
        "name": "Walkers",
        "bid_strategy": "manual_cpm",
        "bid_micros": 1_000_000,
    }
    error = assert_error(
        world.client("owner_key").post("/api/v1/ad-groups/", body, format="json"), 400, "invalid"
    )
    assert list(error["fields"]) == ["campaign"]
    unknown = {**body, "campaign": 999_999_999}
    unknown_error = error_of(world.client("owner_key").post("/api/v1/ad-groups/", unknown, format="json"))
    assert error["message"].replace(str(world.other.campaign.pk), "N") == unknown_error["message"].replace(
        "999999999", "N"
    ), "a foreign id must read exactly as an unknown one"


def test_400_for_malformed_json(world: World) -> None:
    response = world.client("owner_key").generic(
        "POST", EVENTS, b'{"name": ', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_400_bulk_all_or_nothing_names_item_fields(world: World) -> None:
    items = [
        {"advertiser": world.mine.advertiser.pk, "name": "A", "objective": "awareness", "budget_micros": 1},
        {"advertiser": world.mine.advertiser.pk, "name": "", "objective": "awareness", "budget_micros": 1},
    ]
    response = world.client("owner_key").post(
        "/api/v1/campaigns/bulk/", {"items": items, "all_or_nothing": True}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "results"}  # the error shape, and each item's fate
    error = body["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["items[1].name"], error
    assert [r.get("status") for r in response.json()["results"]] == ["skipped", None]
    assert not world.mine.advertiser.campaigns.filter(name="A").exists()


def test_400_bulk_partial_failure_keeps_the_valid_items(world: World) -> None:
    items = [
        {"advertiser": world.mine.advertiser.pk, "name": "A", "objective": "awareness", "budget_micros": 1},
        {"advertiser": world.mine.advertiser.pk, "name": "B", "objective": "nope", "budget_micros": 1},
        {"advertiser": world.other.advertiser.pk, "name": "C", "objective": "awareness", "budget_micros": 1},
        {"id": world.other.campaign.pk, "budget_micros": 1},
    ]
    response = world.client("owner_key").post("/api/v1/campaigns/bulk/", {"items": items}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["status"] == "created"
    assert list(results[1]["error"]["fields"]) == ["objective"]
    assert list(results[2]["error"]["fields"]) == ["advertiser"]  # foreign parent: unknown
    assert results[3]["error"]["code"] == "not_found"  # foreign object: not found
    assert world.mine.advertiser.campaigns.filter(name="A").exists()


# 401, 403, 404, 405 ---------------------------------------------------------------------------------


def test_401_without_credentials_says_how(world: World) -> None:
    response = world.client("anonymous").get(EVENTS)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].lower().startswith("bearer")


def test_401_with_a_wrong_key(world: World) -> None:
    response = world.client("anonymous").get(EVENTS, HTTP_AUTHORIZATION="Bearer adw_000000000000_nope")
    assert_error(response, 401, "authentication_failed")


def test_403_for_a_read_only_role(world: World) -> None:
    url = f"{EVENTS}{world.mine.conversion_event.pk}/"
    response = world.client("analyst_key").patch(url, {"click_window_days": 3}, format="json")
    assert_error(response, 403, "permission_denied")


def test_404_for_another_tenants_object_is_the_404_of_a_missing_one(world: World) -> None:
    client = world.client("owner_key")
    foreign = assert_error(client.get(f"{EVENTS}{world.other.conversion_event.pk}/"), 404, "not_found")
    missing = assert_error(client.get(f"{EVENTS}999999999/"), 404, "not_found")
    assert foreign == missing


UNKNOWN = ("/api/v1/nope/", "/api/v1/campaigns/abc/", "/api/v1/campaigns/1/nope/")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_404_for_unknown_paths_under_the_api(world: World, method: str) -> None:
    for path in UNKNOWN:
        response = world.client("owner_key").generic(method, path)
        assert response.status_code == 404, (path, response.status_code)
        if method != "HEAD":
            assert_error(response, 404, "not_found")


def test_404_for_other_api_versions(world: World) -> None:
    for path in ("/api/", "/api/v2/campaigns/"):
        assert_error(world.client("owner_key").get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_404_for_unknown_paths_with_unsafe_methods(world: World, method: str) -> None:
    client = APIClient(enforce_csrf_checks=True)  # as any real client: CSRF is enforced
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens['owner_key']}")
    for path in UNKNOWN:
        assert_error(client.generic(method, path, b"{}", "application/json"), 404, "not_found")


def test_405_lists_the_allowed_methods(world: World) -> None:
    response = world.client("owner_key").delete(f"/api/v1/campaigns/{world.mine.campaign.pk}/")
    assert_error(response, 405, "method_not_allowed")
    assert "DELETE" not in response["Allow"]
    assert "PATCH" in response["Allow"]


def test_405_for_every_method_a_route_refuses(world: World) -> None:
    from tests.api.routes import api_routes
    from tests.api.test_tenant_matrix import ROUTES  # noqa: F401 - the same route list

    client = world.client("owner_key")
    for route in api_routes():
        if not route.is_viewset:
            continue
        kwargs = {"pk": world.mine.object_of(route.model).pk} if route.takes_pk else {}
        from django.urls import reverse

        url = reverse(route.name, kwargs=kwargs)
        for method in route.unmapped_methods:
            response = client.generic(method, url, b"{}", "application/json")
            assert response.status_code == 405, (route.name, method, response.status_code)
            assert_error(response, 405, "method_not_allowed")


def test_406_for_an_unservable_accept(world: World) -> None:
    response = world.client("owner_key").get(EVENTS, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert error_of(response)["code"] == "not_acceptable"


# 409, 412, 415, 422, 429 ---------------------------------------------------------------------------


def test_409_when_the_rules_refuse_a_state_change(world: World) -> None:
    world.mine.creative.pause()  # no servable creative left
    response = world.client("owner_key").post(f"/api/v1/campaigns/{world.mine.campaign.pk}/activate/")
    error = assert_error(response, 409, "invalid_transition")
    assert "approved" in error["message"]


def test_409_for_the_last_admin_of_an_agency(world: World) -> None:
    admin = UserFactory()
    membership = Membership.objects.create(user=admin, agency=world.mine.agency, role=Role.ADMIN)
    response = world.client("agency").delete(f"/api/v1/members/{membership.pk}/")
    assert_error(response, 409, "last_admin")
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_412_for_a_stale_if_match(world: World) -> None:
    url = f"{EVENTS}{world.mine.conversion_event.pk}/"
    response = world.client("owner_key").patch(url, {"name": "x"}, format="json", HTTP_IF_MATCH='"stale"')
    assert_error(response, 412, "precondition_failed")


def test_415_for_an_unsupported_body_type(world: World) -> None:
    response = world.client("owner_key").generic("POST", EVENTS, b"name=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_415_for_multipart_on_bulk(world: World) -> None:
    response = world.client("owner_key").post("/api/v1/campaigns/bulk/", {"items": "[]"}, format="multipart")
    assert_error(response, 415, "unsupported_media_type")


def test_422_for_a_reused_idempotency_key(world: World) -> None:
    client = world.client("owner_key")
    body = {"advertiser": world.mine.advertiser.pk, "name": "Lead", "category": "lead"}
    client.post(EVENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    response = client.post(EVENTS, {**body, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 422, "idempotency_key_reused")


def test_429_past_the_limit(world: World, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_KEY = 1
    client = world.client("owner_key")
    client.get(EVENTS)
    response = client.get(EVENTS)
    assert_error(response, 429, "throttled")
    assert response.has_header("Retry-After")


# Query parameters ---------------------------------------------------------------------------------


def _datetime_filters() -> list[tuple[str, str]]:
    """(list route name, parameter) of every date-time filter of the API's lists."""
    import django_filters

    from tests.api.routes import api_routes

    found = []
    for route in api_routes():
        filterset = getattr(route.view_class, "filterset_class", None)
        if route.takes_pk or filterset is None or "GET" not in route.methods:
            continue
        for name, declared in filterset.base_filters.items():
            if isinstance(declared, (django_filters.DateTimeFilter, django_filters.IsoDateTimeFilter)):
                found.append((route.name, name))
    return found


DATETIME_FILTERS = _datetime_filters()


DATETIME_VALUES = (
    "2020-01-15T16:54:59-18:33",  # an offset Python accepts and PostgreSQL does not (> 15:59)
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
    "not-a-date",
)
# (route name, value) -> reason, for the cells a bug in a file these tests do not own makes fail.
DATETIME_BUGS: dict[tuple[str, str], str] = {}


def _datetime_cells() -> list[Any]:
    cells = []
    for name, parameter in DATETIME_FILTERS:
        for value in DATETIME_VALUES:
            bug = DATETIME_BUGS.get((name, value))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            cells.append(pytest.param(name, parameter, value, marks=marks, id=f"{name} {parameter}={value}"))
    return cells


@pytest.mark.parametrize(("name", "parameter", "value"), _datetime_cells())
def test_datetime_filters_refuse_what_the_database_cannot_compare(
    world: World, name: str, parameter: str, value: str
) -> None:
    from django.urls import reverse

    response = world.client("owner_key").get(reverse(name), {parameter: value})
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert parameter in error_of(response)["fields"]


def test_there_are_datetime_filters_to_check() -> None:
    assert ("campaign-list", "starts_before") in DATETIME_FILTERS


def _typed_filters() -> list[tuple[str, str, str]]:
    """(list route name, parameter, a value of the wrong type) for every typed filter of the lists."""
    import django_filters

    from tests.api.routes import api_routes

    wrong = (
        (django_filters.BooleanFilter, "maybe"),
        (django_filters.NumberFilter, "abc"),
        (django_filters.ChoiceFilter, "__nope__"),
        (django_filters.MultipleChoiceFilter, "__nope__"),
    )
    found = []
    for route in api_routes():
        filterset = getattr(route.view_class, "filterset_class", None)
        if route.takes_pk or filterset is None or "GET" not in route.methods:
            continue
        for name, declared in filterset.base_filters.items():
            for kind, value in wrong:
                if isinstance(declared, kind):
                    found.append((route.name, name, value))
                    break
    return found


TYPED_FILTERS = _typed_filters()
TYPED_FILTER_BUGS: dict[tuple[str, str], str] = {}


def _typed_filter_cells() -> list[Any]:
    cells = []
    for name, parameter, value in TYPED_FILTERS:
        bug = TYPED_FILTER_BUGS.get((name, parameter))
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        cells.append(pytest.param(name, parameter, value, marks=marks, id=f"{name} {parameter}={value}"))
    return cells


@pytest.mark.parametrize(("name", "parameter", "value"), _typed_filter_cells())
def test_filters_refuse_values_they_cannot_use(world: World, name: str, parameter: str, value: str) -> None:
    """A filter given a value it cannot use answers 400 naming it; ignoring it would list everything,
    which a client would take for the filtered answer."""
    from django.urls import reverse

    response = world.client("owner_key").get(reverse(name), {parameter: value})
    assert response.status_code == 400, response.content[:300]
    assert parameter in error_of(response)["fields"]


def test_there_are_typed_filters_to_check() -> None:
    assert ("campaign-list", "status", "__nope__") in TYPED_FILTERS
