"""The tenant-isolation matrix: every route and method of /api/v1/, tried by every kind of caller.

Routes come from the URL configuration (tests/api/routes.py); what each caller may do is decided in
EXPECTATIONS below, one entry per (route name, method). A route or method without an entry fails
`test_every_route_has_an_expectation` (and its own matrix cells), so a new endpoint cannot ship
before someone decides who may use it. HEAD follows the route's GET entry; OPTIONS answers any
authenticated caller (DRF's metadata, which reveals no object) and refuses anonymous ones.

Each cell runs one request against the owner's objects (tests/api/conftest.py) and checks, beyond
the status: lists show the owner's row to the owner's side and never to the other agency (who sees
its own); object responses carry the object and an ETag; every refusal has the one error shape and
changes nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from tests.api.conftest import CALLER_GROUPS, CALLERS, World, error_of
from tests.api.routes import Route, api_routes, route_methods
from tests.factories import image_bytes, png_file

Body = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Expect:
    """Expected status per caller group, and what the request needs."""

    owner: int
    agency: int
    analyst: int
    other: int
    anonymous: int = 401
    kind: str = "object"  # list | object | create | change | delete | bulk | public
    sees: tuple[str, ...] = ("owner", "agency", "analyst")  # for a list: who sees the owner's row
    body: Body | None = None
    format: str = "json"
    prepare: Callable[[World], None] | None = None  # puts the target in the state the request needs
    query: dict[str, Any] | Callable[[World], dict[str, Any]] = field(default_factory=dict)

    def status_for(self, caller: str) -> int:
        return int(getattr(self, CALLER_GROUPS[caller]))


# The shapes most routes take ------------------------------------------------------------------------

LIST = Expect(200, 200, 200, 200, kind="list")
RETRIEVE = Expect(200, 200, 200, 404, kind="object")
PUBLIC = Expect(200, 200, 200, 200, anonymous=200, kind="public")


def create(
    body: Body, *, owner: int = 201, agency: int = 201, analyst: int = 403, other: int = 400
) -> Expect:
    """A POST to a list route. The other agency names the owner's parent in the body: 400, as if the
    parent did not exist (never 403, which would tell it the parent exists)."""
    return Expect(owner, agency, analyst, other, kind="create", body=body)


def change(body: Body | None = None, **kwargs: Any) -> Expect:
    """A PUT/PATCH/POST on one object: 200 for editors, 403 read-only, 404 for the other agency."""
    statuses = {"owner": 200, "agency": 200, "analyst": 403, "other": 404}
    statuses.update({k: kwargs.pop(k) for k in list(kwargs) if k in statuses})
    return Expect(**statuses, kind="change", body=body or (lambda world: {}), **kwargs)


def delete(*, owner: int = 204, agency: int = 204, analyst: int = 403, other: int = 404) -> Expect:
    return Expect(owner, agency, analyst, other, kind="delete")


def duplicate() -> Expect:
    """A copy of one object: 201 and a new row for editors, 403 read-only, 404 for the other agency."""
    return Expect(201, 201, 403, 404, kind="create", body=lambda world: {})


def bulk(items: Body) -> Expect:
    """POST /{resource}/bulk answers 200 with one result per item; an item the caller may not write
    fails on its own (an analyst's: permission_denied; the other agency's: its parents and objects
    are unknown to it), and nothing of the owner's changes."""
    return Expect(200, 200, 200, 200, kind="bulk", body=items)


def conversion_event_body(world: World) -> dict[str, Any]:
    return {
        "advertiser": world.mine.advertiser.pk,
        "name": "Sign-up (API)",
        "category": "sign_up",
        "click_window_days": 30,
        "view_window_days": 1,
        "counting": "one",
        "is_active": True,
    }


def advertiser_body(world: World) -> dict[str, Any]:
    return {
        "agency": world.mine.agency.pk,
        "name": "Acme Boots",
        "currency": "EUR",
        "time_zone": "Europe/Paris",
        "domains": ["acme-boots.example"],
    }


def advertiser_settings(world: World) -> dict[str, Any]:
    return {
        "name": "Acme Shoes EU",
        "currency": "USD",
        "time_zone": "Europe/Berlin",
        "domains": ["acme.example"],
    }


def member_body(world: World) -> dict[str, Any]:
    return {"email": world.newcomer.email, "advertiser": world.mine.advertiser.pk, "role": "analyst"}


def api_key_body(world: World) -> dict[str, Any]:
    return {"name": "CI", "advertiser": world.mine.advertiser.pk, "role": "analyst"}


def campaign_body(world: World) -> dict[str, Any]:
    return {
        "advertiser": world.mine.advertiser.pk,
        "name": "Summer sale",
        "objective": "awareness",
        "budget_type": "daily",
        "budget_micros": 20_000_000,
        "pacing": "standard",
        "starts_at": "2030-06-01T00:00:00Z",
        "frequency_cap_impressions": 3,
        "frequency_cap_period": "day",
    }


def ad_group_body(world: World) -> dict[str, Any]:
    return {
        "campaign": world.mine.campaign.pk,
        "name": "Walkers",
        "bid_strategy": "manual_cpm",
        "bid_micros": 1_500_000,
        "targeting": {"countries": ["FR", "DE"], "device_types": ["mobile"]},
    }


def creative_upload(world: World) -> dict[str, Any]:
    return {
        "ad_group": world.mine.ad_group.pk,
        "name": "Leaderboard",
        "format": "banner",
        "landing_url": "https://example.com/summer",
        "image": png_file(728, 90, name="leaderboard.png"),
    }


def creative_body(world: World) -> dict[str, Any]:
    return {
        "ad_group": world.mine.ad_group.pk,
        "name": "Banner (renamed)",
        "format": "banner",
        "landing_url": "https://example.com/landing",
    }


def bulk_of(create: Body, update: dict[str, Any], model: str) -> Body:
    """One new object and one update of the owner's object."""

    def items(world: World) -> dict[str, Any]:
        obj = getattr(world.mine, model)
        return {"items": [create(world), {"id": obj.pk, **update}]}

    return items


def creative_json(world: World) -> dict[str, Any]:
    """A new creative in JSON, its image as a data URI (as bulk requests carry images)."""
    image = base64.b64encode(image_bytes(320, 50)).decode()
    return {**creative_body(world), "name": "Mobile banner", "image": f"data:image/png;base64,{image}"}


def report_query(world: World) -> dict[str, Any]:
    return {"advertiser": world.mine.advertiser.pk, "start": "2025-01-01", "end": "2025-01-31"}


def report_job_body(world: World) -> dict[str, Any]:
    return {**report_query(world), "dimensions": ["day", "campaign"], "format": "xlsx"}


def activated(kind: str) -> Callable[[World], None]:
    return lambda world: getattr(world.mine, kind).activate()


def paused(kind: str) -> Callable[[World], None]:
    return lambda world: getattr(world.mine, kind).pause()


# The table ------------------------------------------------------------------------------------------

EXPECTATIONS: dict[tuple[str, str], Expect] = {
    # Schema and docs are public: agencies read them before they have a key.
    ("api-schema", "GET"): PUBLIC,
    ("api-docs", "GET"): PUBLIC,
    ("api-redoc", "GET"): PUBLIC,
    # Conversion events
    ("conversion-event-list", "GET"): LIST,
    ("conversion-event-list", "POST"): create(conversion_event_body),
    ("conversion-event-detail", "GET"): RETRIEVE,
    ("conversion-event-detail", "PUT"): change(conversion_event_body),
    ("conversion-event-detail", "PATCH"): change(lambda world: {"click_window_days": 28}),
    # Advertisers: agency admins create them (an advertiser's own admin cannot: 403); its admins
    # change its settings.
    ("advertiser-list", "GET"): LIST,
    ("advertiser-list", "POST"): create(advertiser_body, owner=403),
    ("advertiser-detail", "GET"): RETRIEVE,
    ("advertiser-detail", "PUT"): change(advertiser_settings),
    ("advertiser-detail", "PATCH"): change(lambda world: {"time_zone": "Europe/Berlin"}),
    # Members: anyone with a role sees who else has one; admins give, change and take roles.
    ("member-list", "GET"): LIST,
    ("member-list", "POST"): create(member_body),
    ("member-detail", "GET"): RETRIEVE,
    ("member-detail", "PATCH"): change(lambda world: {"role": "analyst"}),
    ("member-detail", "DELETE"): delete(),
    # API keys: admins only; to anyone else they do not exist (an analyst's list is empty).
    ("api-key-list", "GET"): replace(LIST, sees=("owner", "agency")),
    ("api-key-list", "POST"): create(api_key_body),
    ("api-key-detail", "GET"): replace(RETRIEVE, analyst=404),
    ("api-key-detail", "DELETE"): delete(analyst=404),
    ("api-key-revoke", "POST"): change(analyst=404),
    # Campaigns, ad groups, creatives: read by every role, written by admins and managers; status
    # changes only by the actions (activate needs an approved creative: the world's campaign has one).
    ("campaign-list", "GET"): LIST,
    ("campaign-list", "POST"): create(campaign_body),
    ("campaign-detail", "GET"): RETRIEVE,
    ("campaign-detail", "PUT"): change(campaign_body),
    ("campaign-detail", "PATCH"): change(lambda world: {"budget_micros": 80_000_000}),
    ("campaign-activate", "POST"): change(),
    ("campaign-pause", "POST"): replace(change(), prepare=activated("campaign")),
    ("campaign-archive", "POST"): change(),
    ("campaign-duplicate", "POST"): duplicate(),
    ("campaign-bulk", "POST"): bulk(bulk_of(campaign_body, {"budget_micros": 60_000_000}, "campaign")),
    ("ad-group-list", "GET"): LIST,
    ("ad-group-list", "POST"): create(ad_group_body),
    ("ad-group-detail", "GET"): RETRIEVE,
    ("ad-group-detail", "PUT"): change(ad_group_body),
    ("ad-group-detail", "PATCH"): change(lambda world: {"bid_micros": 2_500_000}),
    ("ad-group-activate", "POST"): replace(change(), prepare=paused("ad_group")),
    ("ad-group-pause", "POST"): change(),
    ("ad-group-archive", "POST"): change(),
    ("ad-group-duplicate", "POST"): duplicate(),
    ("ad-group-bulk", "POST"): bulk(bulk_of(ad_group_body, {"bid_micros": 3_000_000}, "ad_group")),
    ("creative-list", "GET"): LIST,
    ("creative-list", "POST"): replace(create(creative_upload), format="multipart"),
    ("creative-detail", "GET"): RETRIEVE,
    ("creative-detail", "PUT"): change(creative_body),
    ("creative-detail", "PATCH"): change(lambda world: {"name": "Banner (renamed)"}),
    ("creative-activate", "POST"): replace(change(), prepare=paused("creative")),
    ("creative-pause", "POST"): change(),
    ("creative-archive", "POST"): change(),
    ("creative-bulk", "POST"): bulk(
        bulk_of(creative_json, {"landing_url": "https://example.com/new"}, "creative")
    ),
    # Reports are reads: every role asks for one and creates report jobs; another agency's
    # advertiser is unknown (404 in the query string, 400 in a body, as any foreign id).
    ("report", "GET"): Expect(200, 200, 200, 404, kind="report", query=report_query),
    ("report-job-list", "POST"): create(report_job_body, analyst=201),
    ("report-job-detail", "GET"): RETRIEVE,
    ("report-job-download", "GET"): Expect(200, 200, 200, 404, kind="file"),
    # The audit log: read by anyone with a role on the advertiser.
    ("audit-log-list", "GET"): LIST,
    ("audit-log-detail", "GET"): RETRIEVE,
}


def expectation(name: str, method: str) -> Expect | None:
    if method == "HEAD":
        get = EXPECTATIONS.get((name, "GET"))
        return None if get is None else replace(get, kind="head")
    if method == "OPTIONS":
        public = EXPECTATIONS.get((name, "GET")) == PUBLIC
        return Expect(200, 200, 200, 200, anonymous=200 if public else 401, kind="options")
    return EXPECTATIONS.get((name, method))


# The tests ------------------------------------------------------------------------------------------


def test_every_route_has_an_expectation() -> None:
    missing = [key for key in route_methods() if expectation(*key) is None]
    assert not missing, (
        "Routes without an entry in EXPECTATIONS (tests/api/test_tenant_matrix.py); decide who may "
        f"use them: {missing}"
    )


def test_no_expectation_without_a_route() -> None:
    existing = set(route_methods())
    stale = [key for key in EXPECTATIONS if key not in existing]
    assert not stale, f"EXPECTATIONS names routes that do not exist (any more): {stale}"


def test_the_matrix_covers_the_resources() -> None:
    names = {route.name for route in api_routes()}
    assert {"api-schema", "conversion-event-list", "conversion-event-detail"} <= names


ROUTES = {route.name: route for route in api_routes()}

# Cells that fail because of a bug in a file these tests do not own: (route name, method) -> reason.
# Strict: when the bug is fixed the cell passes, the xfail fails, and the entry must go.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def test_known_bugs_name_existing_cells() -> None:
    existing = set(route_methods())
    assert not [key for key in KNOWN_BUGS if key not in existing], "a KNOWN_BUGS entry outlived its route"


def _cells() -> list[Any]:
    cells = []
    for name, method in route_methods():
        for caller in CALLERS:
            bug = KNOWN_BUGS.get((name, method))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            cells.append(pytest.param(name, method, caller, marks=marks, id=f"{name} {method} {caller}"))
    return cells


@pytest.mark.parametrize(("name", "method", "caller"), _cells())
def test_matrix(world: World, name: str, method: str, caller: str) -> None:
    expect = expectation(name, method)
    assert expect is not None, f"No expectation for {method} {name}: add one to EXPECTATIONS."
    route = ROUTES[name]
    if expect.prepare is not None:
        expect.prepare(world)
    row = world.mine.object_of(route.model) if route.model is not None else None
    target = row if route.takes_pk else None
    url = reverse(name, kwargs={"pk": target.pk} if target is not None else {})
    model = route.model
    count_before = model._default_manager.count() if model is not None else 0
    target_before = _stored(target)
    row_before = _stored(row)
    audit_before = AuditLog.objects.count()

    client = world.client(caller)
    kwargs: dict[str, Any] = {}
    if expect.body is not None:
        kwargs = {"data": expect.body(world), "format": expect.format}
    elif expect.query:
        kwargs = {"data": expect.query(world) if callable(expect.query) else expect.query}
    response = client.generic(method, url, **_encode(client, method, kwargs))

    wanted = expect.status_for(caller)
    assert response.status_code == wanted, (
        f"{caller} {method} {url}: expected {wanted}, got {response.status_code}: {response.content[:500]!r}"
    )
    if response.status_code >= 400:
        _check_refusal(response, method, caller)
        if method not in ("GET", "HEAD", "OPTIONS"):
            assert _stored(target) == target_before, "a refused write changed the object"
            if model is not None:
                assert model._default_manager.count() == count_before, "a refused write created a row"
            assert AuditLog.objects.count() == audit_before, "a refused write was audited as done"
        return
    if expect.kind == "bulk":
        _check_bulk(response, caller, route, count_before, row, row_before, audit_before)
        return
    _check_success(expect, route, world, caller, response, target, count_before)


def _encode(client: Any, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """APIClient.generic() takes an encoded body: encode like APIClient.post(format=...) does."""
    if "format" not in kwargs:
        if kwargs.get("data"):
            return {"QUERY_STRING": "&".join(f"{k}={v}" for k, v in kwargs["data"].items())}
        return {}
    data, content_type = client._encode_data(kwargs["data"], kwargs["format"], None)
    return {"data": data, "content_type": content_type}


def _stored(obj: Any) -> Any:
    if obj is None:
        return None
    from accounts.audit import snapshot

    fresh = type(obj)._default_manager.filter(pk=obj.pk).first()
    return None if fresh is None else snapshot(fresh)


def _check_refusal(response: Any, method: str, caller: str) -> None:
    if method == "HEAD":
        return
    error_of(response)
    if response.status_code == 401:
        assert response.has_header("WWW-Authenticate"), "a 401 must say how to authenticate"


def _results(body: Any) -> list[dict[str, Any]]:
    return body["results"] if isinstance(body, dict) and "results" in body else body


def _check_bulk(
    response: Any, caller: str, route: Route, count_before: int, row: Any, row_before: Any, audit_before: int
) -> None:
    results = response.json()["results"]
    assert [result["index"] for result in results] == list(range(len(results)))
    if CALLER_GROUPS[caller] in ("owner", "agency"):
        assert all("id" in result and "error" not in result for result in results), results
        return
    assert all("error" in result and "id" not in result for result in results), results
    for result in results:
        error = result["error"]
        assert set(error) == {"code", "message", "fields"}, error
        if CALLER_GROUPS[caller] == "analyst":
            assert error["code"] == "permission_denied", error
        else:
            assert error["code"] in ("invalid", "not_found"), error
    assert route.model is not None
    assert route.model._default_manager.count() == count_before, "a refused bulk item created a row"
    assert _stored(row) == row_before, "a refused bulk item changed the owner's object"
    assert AuditLog.objects.count() == audit_before


def _check_success(
    expect: Expect, route: Route, world: World, caller: str, response: Any, target: Any, count_before: int
) -> None:
    group = CALLER_GROUPS[caller]
    if expect.kind == "list":
        assert route.model is not None
        ids = {row["id"] for row in _results(response.json())}
        mine = world.mine.object_of(route.model).pk
        theirs = world.other.object_of(route.model).pk
        assert theirs not in ids or group == "other", f"{caller} sees the other agency's rows"
        if group == "other":
            assert mine not in ids, f"the other agency sees the owner's {route.model.__name__}"
            assert theirs in ids, "the other agency should see its own rows"
        elif group in expect.sees:
            assert mine in ids, f"{caller} does not see the owner's {route.model.__name__}"
        else:
            assert mine not in ids, f"{caller} sees the owner's {route.model.__name__}"
    elif expect.kind in ("object", "change"):
        body = response.json()
        if target is not None and isinstance(body, dict) and "id" in body:
            assert body["id"] == target.pk
        assert response.has_header("ETag"), "object responses carry an ETag"
    elif expect.kind == "create":
        assert route.model is not None
        assert route.model._default_manager.count() == count_before + 1
        assert response.has_header("ETag")
        assert response.has_header("Location")
    elif expect.kind in ("delete", "head"):
        assert response.content == b""


# Beyond the matrix: ids in query strings and agency-level rows ---------------------------------------


def _lists_filtering_by(parameter: str) -> list[str]:
    return [
        route.name
        for route in api_routes()
        if not route.takes_pk
        and "GET" in route.methods
        and parameter in getattr(getattr(route.view_class, "filterset_class", None), "base_filters", {})
    ]


@pytest.mark.parametrize("name", _lists_filtering_by("advertiser"))
def test_a_foreign_advertiser_filter_reads_as_a_missing_one(world: World, name: str) -> None:
    client = world.client("other_agency")
    url = reverse(name)
    foreign = client.get(url, {"advertiser": world.mine.advertiser.pk})
    missing = client.get(url, {"advertiser": 999_999_999})
    assert foreign.status_code == missing.status_code == 200
    assert _results(foreign.json()) == _results(missing.json()) == []


def test_agency_level_audit_entries_stay_in_the_agency(world: World) -> None:
    body = {"name": "Agency CI", "agency": world.mine.agency.pk, "role": "analyst"}
    created = world.client("agency").post("/api/v1/api-keys/", body, format="json")
    assert created.status_code == 201
    key_id = str(created.json()["id"])

    def sees(caller: str) -> bool:
        rows = _results(world.client(caller).get("/api/v1/audit-log/", {"object_id": key_id}).json())
        return any(row["object_type"] == "accounts.ApiKey" for row in rows)

    assert sees("agency")
    assert not sees("other_agency")
    assert not sees("owner_key")  # an advertiser's key sees its advertiser, not its agency


DETAIL_ROUTES = [r.name for r in api_routes() if r.takes_pk and r.model is not None and r.answers_options]


@pytest.mark.parametrize("name", DETAIL_ROUTES)
def test_options_on_a_foreign_object_reads_as_on_a_missing_one(world: World, name: str) -> None:
    """DRF's OPTIONS describes the actions the caller may take on the object: for the other agency
    the owner's object must be described exactly as one that does not exist."""
    route = ROUTES[name]
    assert route.model is not None
    client = world.client("other_agency")
    foreign = client.options(reverse(name, kwargs={"pk": world.mine.object_of(route.model).pk}))
    missing = client.options(reverse(name, kwargs={"pk": 999_999_999}))
    assert foreign.status_code == missing.status_code
    assert foreign.json() == missing.json()
