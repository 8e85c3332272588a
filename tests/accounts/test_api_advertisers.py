"""/api/v1/advertisers: each caller sees its own accounts; agency admins create them; advertiser
admins change their settings; the platform's status is never written by the API."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Advertiser, Agency, AuditLog, Role, User
from tests.conftest import Tenants
from tests.conftest import api_client as api
from tests.factories import AdvertiserFactory, CampaignFactory, MembershipFactory, issue_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/advertisers"


@dataclass
class World:
    tenants: Tenants
    agency: Agency
    sister: Advertiser  # a second advertiser of the same agency
    agency_admin: User
    agency_analyst: User


@pytest.fixture
def world(tenants: Tenants) -> World:
    agency = tenants.advertiser.agency
    assert agency is not None
    sister = AdvertiserFactory(agency=agency, name="Acme Boots", currency="EUR")
    agency_admin = MembershipFactory(agency=agency, advertiser=None, role=Role.ADMIN).user
    agency_analyst = MembershipFactory(agency=agency, advertiser=None, role=Role.ANALYST).user
    return World(tenants, agency, sister, agency_admin, agency_analyst)


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


# ---------------------------------------------------------------------------------------------------
# Reading


def test_each_caller_lists_its_own_advertisers(world: World) -> None:
    t = world.tenants
    assert names(api(t.owner).get(URL)) == {"Acme Shoes"}
    assert names(api(t.analyst).get(URL)) == {"Acme Shoes"}
    assert names(api(t.outsider).get(URL)) == {"Globex"}
    assert names(api(world.agency_admin).get(URL)) == {"Acme Shoes", "Acme Boots"}
    assert names(api(world.agency_analyst).get(URL)) == {"Acme Shoes", "Acme Boots"}
    _, agency_token = issue_api_key(agency=world.agency, role=Role.ANALYST)
    assert names(api(agency_token).get(URL)) == {"Acme Shoes", "Acme Boots"}
    _, advertiser_token = issue_api_key(advertiser=world.sister, role=Role.ADMIN)
    assert names(api(advertiser_token).get(URL)) == {"Acme Boots"}


def test_list_shape_filters_and_ordering(world: World) -> None:
    client = api(world.agency_admin)
    response = client.get(URL, {"ordering": "name"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [row["name"] for row in body["results"]] == ["Acme Boots", "Acme Shoes"]
    row = body["results"][0]
    assert set(row) == {"id", "agency", "name", "currency", "time_zone", "status", "domains", "created_at"}
    assert row["agency"] == world.agency.pk
    assert names(client.get(URL, {"currency": "EUR"})) == {"Acme Boots"}
    assert names(client.get(URL, {"agency": world.agency.pk})) == {"Acme Shoes", "Acme Boots"}
    assert names(client.get(URL, {"agency": world.tenants.other_advertiser.agency_id})) == set()
    world.sister.status = Advertiser.Status.SUSPENDED
    world.sister.save()
    assert names(client.get(URL, {"status": "suspended"})) == {"Acme Boots"}
    bad = client.get(URL, {"status": "sleeping"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    assert "status" in bad.json()["error"]["fields"]


def test_the_list_costs_the_same_queries_for_many_rows(world: World) -> None:
    client = api(world.agency_admin)
    client.get(URL)  # the session and the rate limiter warm up
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    AdvertiserFactory.create_batch(20, agency=world.agency)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(URL).json()["results"]) == 22
    assert len(many) == len(few)


def test_retrieve_has_an_etag_and_a_foreign_id_is_404(world: World) -> None:
    t = world.tenants
    response = api(t.analyst).get(f"{URL}/{t.advertiser.pk}")
    assert response.status_code == 200
    assert response.json()["name"] == "Acme Shoes"
    assert response["ETag"].startswith('"')
    foreign = api(t.owner).get(f"{URL}/{t.other_advertiser.pk}")
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
    assert api(t.owner).get(f"{URL}/999999").status_code == 404
    assert api().get(URL).status_code == 401


# ---------------------------------------------------------------------------------------------------
# Creating


NEW = {"name": "Acme Sandals", "currency": "GBP", "time_zone": "Europe/London", "domains": ["acme.example"]}


def test_an_agency_admin_creates_into_its_only_agency(world: World) -> None:
    response = api(world.agency_admin).post(URL, {**NEW, "status": "suspended"})
    assert response.status_code == 201, response.content
    body = response.json()
    advertiser = Advertiser.objects.get(pk=body["id"])
    assert advertiser.agency == world.agency
    assert (advertiser.name, advertiser.currency, advertiser.time_zone) == (
        "Acme Sandals",
        "GBP",
        "Europe/London",
    )
    assert advertiser.status == Advertiser.Status.ACTIVE  # read only: ignored, never written
    assert response["Location"].endswith(f"{URL}/{advertiser.pk}")
    entry = AuditLog.objects.get(object_type="accounts.Advertiser", object_id=str(advertiser.pk))
    assert (entry.action, entry.source, entry.actor_user, entry.actor_api_key) == (
        "create",
        "api",
        world.agency_admin,
        None,
    )
    assert entry.advertiser == advertiser


def test_an_agency_admin_key_creates(world: World) -> None:
    key, token = issue_api_key(agency=world.agency, role=Role.ADMIN)
    response = api(token).post(URL, {**NEW, "agency": world.agency.pk})
    assert response.status_code == 201, response.content
    entry = AuditLog.objects.get(object_type="accounts.Advertiser", object_id=str(response.json()["id"]))
    assert (entry.source, entry.actor_api_key, entry.actor_user) == ("api", key, None)


@pytest.mark.parametrize("who", ["owner", "analyst", "outsider", "agency_analyst"])
def test_only_agency_admins_create(world: World, who: str) -> None:
    user = getattr(world, who, None) or getattr(world.tenants, who)
    response = api(user).post(URL, {**NEW, "agency": world.agency.pk})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Advertiser.objects.filter(name="Acme Sandals").exists()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ANALYST])
def test_agency_keys_below_admin_cannot_create(world: World, role: Role) -> None:
    _, token = issue_api_key(agency=world.agency, role=role)
    assert api(token).post(URL, NEW).status_code == 403


def test_an_advertiser_key_cannot_create(world: World) -> None:
    _, token = issue_api_key(advertiser=world.tenants.advertiser, role=Role.ADMIN)
    assert api(token).post(URL, NEW).status_code == 403


def test_another_agencys_id_is_a_400(world: World) -> None:
    other_agency = world.tenants.other_advertiser.agency
    response = api(world.agency_admin).post(URL, {**NEW, "agency": other_agency.pk})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["agency"]


def test_an_agency_where_the_caller_is_not_admin_is_a_403(world: World) -> None:
    # Admin of one agency, analyst of another: may create only in the first.
    MembershipFactory(
        user=world.agency_analyst, agency=AdvertiserFactory().agency, advertiser=None, role="admin"
    )
    response = api(world.agency_analyst).post(URL, {**NEW, "agency": world.agency.pk})
    assert response.status_code == 403


def test_an_admin_of_several_agencies_names_one(world: World) -> None:
    second = AdvertiserFactory().agency
    MembershipFactory(user=world.agency_admin, agency=second, advertiser=None, role=Role.ADMIN)
    response = api(world.agency_admin).post(URL, NEW)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["agency"]
    assert api(world.agency_admin).post(URL, {**NEW, "agency": second.pk}).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Acme Boots"}, "name"),  # taken in this agency
        ({"name": ""}, "name"),
        ({"currency": "XYZ"}, "currency"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"domains": ["https://acme.example/"]}, "domains"),
    ],
)
def test_invalid_advertisers_are_refused_naming_the_field(world: World, change: dict, field: str) -> None:
    response = api(world.agency_admin).post(URL, {**NEW, **change})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert any(path.startswith(field) for path in error["fields"]), error
    assert Advertiser.objects.count() == 3


def test_the_same_name_in_another_agency_is_fine(world: World) -> None:
    second = AdvertiserFactory().agency
    MembershipFactory(user=world.agency_admin, agency=second, advertiser=None, role=Role.ADMIN)
    response = api(world.agency_admin).post(URL, {**NEW, "name": "Acme Boots", "agency": second.pk})
    assert response.status_code == 201


# ---------------------------------------------------------------------------------------------------
# Changing


def test_an_advertiser_admin_changes_settings_audited(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{t.advertiser.pk}"
    change = {"name": "Acme Shoes EU", "time_zone": "Europe/Berlin", "domains": ["acme.example"]}
    response = api(t.owner).patch(url, {**change, "status": "closed"})
    assert response.status_code == 200, response.content
    t.advertiser.refresh_from_db()
    assert (t.advertiser.name, t.advertiser.time_zone, t.advertiser.domains) == (
        "Acme Shoes EU",
        "Europe/Berlin",
        ["acme.example"],
    )
    assert t.advertiser.status == Advertiser.Status.ACTIVE
    entry = AuditLog.objects.get(action="update", object_type="accounts.Advertiser")
    assert (entry.source, entry.actor_user, entry.advertiser) == ("api", t.owner, t.advertiser)
    assert entry.before == {"name": "Acme Shoes", "time_zone": "America/New_York", "domains": ["example.com"]}
    assert entry.after == {"name": "Acme Shoes EU", "time_zone": "Europe/Berlin", "domains": ["acme.example"]}


def test_put_replaces_the_settings(world: World) -> None:
    t = world.tenants
    body = {"name": "Acme", "currency": "USD", "time_zone": "UTC", "domains": []}
    response = api(t.owner).put(f"{URL}/{t.advertiser.pk}", body)
    assert response.status_code == 200, response.content
    assert response.json()["domains"] == []


@pytest.mark.parametrize("who", ["agency_admin", "admin_key", "agency_admin_key"])
def test_agency_admins_and_admin_keys_change_settings(world: World, who: str) -> None:
    principal: User | str
    if who == "agency_admin":
        principal = world.agency_admin
    elif who == "admin_key":
        principal = issue_api_key(advertiser=world.tenants.advertiser, role=Role.ADMIN)[1]
    else:
        principal = issue_api_key(agency=world.agency, role=Role.ADMIN)[1]
    response = api(principal).patch(f"{URL}/{world.tenants.advertiser.pk}", {"name": "Renamed"})
    assert response.status_code == 200, response.content


def test_managers_analysts_and_non_admin_keys_may_not_change(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{t.advertiser.pk}"
    manager = MembershipFactory(advertiser=t.advertiser, role=Role.MANAGER).user
    _, manager_token = issue_api_key(agency=world.agency, role=Role.MANAGER)
    for principal in (manager, t.analyst, world.agency_analyst, manager_token):
        response = api(principal).patch(url, {"name": "Renamed"})
        assert response.status_code == 403, principal
        assert response.json()["error"]["code"] == "permission_denied"
    assert api(t.outsider).patch(url, {"name": "Renamed"}).status_code == 404
    t.advertiser.refresh_from_db()
    assert t.advertiser.name == "Acme Shoes"
    assert not AuditLog.objects.filter(action="update").exists()


def test_currency_changes_only_while_there_are_no_campaigns(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{t.advertiser.pk}"
    assert api(t.owner).patch(url, {"currency": "EUR"}).status_code == 200
    CampaignFactory(advertiser=t.advertiser)
    response = api(t.owner).patch(url, {"currency": "GBP"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["currency"]
    assert api(t.owner).patch(url, {"currency": "EUR", "name": "Same currency"}).status_code == 200
    t.advertiser.refresh_from_db()
    assert t.advertiser.currency == "EUR"


def test_an_advertiser_cannot_move_to_another_agency(world: World) -> None:
    second = AdvertiserFactory().agency
    MembershipFactory(user=world.agency_admin, agency=second, advertiser=None, role=Role.ADMIN)
    response = api(world.agency_admin).patch(f"{URL}/{world.tenants.advertiser.pk}", {"agency": second.pk})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["agency"]


def test_a_stale_if_match_is_a_412_and_changes_nothing(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{t.advertiser.pk}"
    client = api(t.owner)
    etag = client.get(url)["ETag"]
    fresh = client.patch(url, {"name": "First"}, HTTP_IF_MATCH=etag)
    assert fresh.status_code == 200
    assert fresh["ETag"] != etag
    stale = client.patch(url, {"name": "Second"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    t.advertiser.refresh_from_db()
    assert t.advertiser.name == "First"


def test_a_suspended_account_cannot_be_changed(world: World) -> None:
    t = world.tenants
    Advertiser.objects.filter(pk=t.advertiser.pk).update(status=Advertiser.Status.SUSPENDED)
    response = api(t.owner).patch(f"{URL}/{t.advertiser.pk}", {"name": "Renamed"})
    assert response.status_code == 403


def test_advertisers_are_never_deleted_by_the_api(world: World) -> None:
    response = api(world.agency_admin).delete(f"{URL}/{world.tenants.advertiser.pk}")
    assert response.status_code == 405
    assert Advertiser.objects.filter(pk=world.tenants.advertiser.pk).exists()
