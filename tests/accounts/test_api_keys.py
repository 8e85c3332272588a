"""/api/v1/api-keys: admins list, create and revoke the keys of their advertisers and agencies. The
token is shown once, in the creation response; a key never makes a key wider than itself; a revoked
key answers 401 from its next call."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Advertiser, Agency, ApiKey, AuditLog, Role, User
from tests.conftest import Tenants
from tests.conftest import api_client as api
from tests.factories import AdvertiserFactory, MembershipFactory, issue_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/api-keys"


@dataclass
class World:
    tenants: Tenants
    agency: Agency
    sister: Advertiser
    agency_admin: User
    advertiser_key: ApiKey  # an analyst key of the tenants' advertiser
    agency_key: ApiKey  # a manager key of the agency
    outsider_key: ApiKey


@pytest.fixture
def world(tenants: Tenants) -> World:
    agency = tenants.advertiser.agency
    assert agency is not None
    sister = AdvertiserFactory(agency=agency, name="Acme Boots")
    agency_admin = MembershipFactory(agency=agency, advertiser=None, role=Role.ADMIN).user
    advertiser_key, _ = issue_api_key(name="Reporting", advertiser=tenants.advertiser, role=Role.ANALYST)
    agency_key, _ = issue_api_key(name="Agency sync", agency=agency, role=Role.MANAGER)
    outsider_key, _ = issue_api_key(name="Globex", advertiser=tenants.other_advertiser, role=Role.ADMIN)
    return World(tenants, agency, sister, agency_admin, advertiser_key, agency_key, outsider_key)


def key_names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


# ---------------------------------------------------------------------------------------------------
# Listing


def test_admins_list_the_keys_they_administer(world: World) -> None:
    t = world.tenants
    assert key_names(api(t.owner).get(URL)) == {"Reporting"}
    assert key_names(api(world.agency_admin).get(URL)) == {"Reporting", "Agency sync"}
    assert key_names(api(t.outsider).get(URL)) == {"Globex"}
    assert key_names(api(t.analyst).get(URL)) == set()  # not an admin: no keys to see
    _, agency_admin_token = issue_api_key(name="Agency admin", agency=world.agency, role=Role.ADMIN)
    assert key_names(api(agency_admin_token).get(URL)) == {"Reporting", "Agency sync", "Agency admin"}
    _, advertiser_admin_token = issue_api_key(name="Admin", advertiser=t.advertiser, role=Role.ADMIN)
    assert key_names(api(advertiser_admin_token).get(URL)) == {"Reporting", "Admin"}
    _, manager_token = issue_api_key(name="Manager", agency=world.agency, role=Role.MANAGER)
    assert key_names(api(manager_token).get(URL)) == set()


def test_a_key_shows_its_prefix_never_its_secret(world: World) -> None:
    response = api(world.agency_admin).get(URL, {"agency": world.agency.pk})
    [row] = response.json()["results"]
    assert set(row) == {
        "id",
        "name",
        "token_prefix",
        "advertiser",
        "agency",
        "role",
        "is_active",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    key = world.agency_key
    assert row["token_prefix"] == f"adw_{key.prefix}_…"
    assert (row["agency"], row["advertiser"], row["role"], row["is_active"]) == (
        world.agency.pk,
        None,
        "manager",
        True,
    )
    assert key.secret_hash not in response.content.decode()
    detail = api(world.agency_admin).get(f"{URL}/{key.pk}")
    assert detail.status_code == 200
    assert "token" not in detail.json()
    assert key.secret_hash not in detail.content.decode()


def test_filters(world: World) -> None:
    client = api(world.agency_admin)
    assert key_names(client.get(URL, {"advertiser": world.tenants.advertiser.pk})) == {"Reporting"}
    assert key_names(client.get(URL, {"role": "manager"})) == {"Agency sync"}
    world.agency_key.revoke()
    assert key_names(client.get(URL, {"is_active": "false"})) == {"Agency sync"}
    assert key_names(client.get(URL, {"is_active": "true"})) == {"Reporting"}


@pytest.mark.parametrize(
    "params",
    [{"is_active": "maybe"}, {"is_active": "null"}, {"is_active": ""}, {"advertiser": ""}, {"agency": "x"}],
)
def test_a_filter_it_cannot_use_is_a_400_not_everything(world: World, params: dict) -> None:
    response = api(world.agency_admin).get(URL, params)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == list(params)


def test_the_list_costs_the_same_queries_for_many_rows(world: World) -> None:
    client = api(world.agency_admin)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for n in range(10):
        issue_api_key(name=f"Key {n}", advertiser=world.sister, created_by=world.agency_admin)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(URL).json()["results"]) == 12
    assert len(many) == len(few)


def test_foreign_keys_are_404(world: World) -> None:
    t = world.tenants
    assert api(t.owner).get(f"{URL}/{world.outsider_key.pk}").status_code == 404
    assert api(t.owner).get(f"{URL}/{world.agency_key.pk}").status_code == 404  # the agency's, not theirs
    assert api(t.analyst).get(f"{URL}/{world.advertiser_key.pk}").status_code == 404
    assert api().get(URL).status_code == 401


# ---------------------------------------------------------------------------------------------------
# Creating


def test_an_admin_creates_a_key_and_sees_its_token_once(world: World) -> None:
    t = world.tenants
    response = api(t.owner).post(URL, {"name": "Bidder", "advertiser": t.advertiser.pk, "role": "manager"})
    assert response.status_code == 201, response.content
    body = response.json()
    token = body["token"]
    key = ApiKey.objects.get(pk=body["id"])
    assert token.startswith(f"adw_{key.prefix}_")
    assert body["token_prefix"] == f"adw_{key.prefix}_…"
    assert (key.advertiser, key.agency, key.role, key.created_by) == (t.advertiser, None, "manager", t.owner)
    assert body["created_by"] == "owner@acme.test"
    assert ApiKey.authenticate(token) == key
    # The token works, and is never shown again.
    assert api(token).get("/api/v1/advertisers").status_code == 200
    assert "token" not in api(t.owner).get(f"{URL}/{key.pk}").json()
    assert token not in api(t.owner).get(URL).content.decode()
    entry = AuditLog.objects.get(object_type="accounts.ApiKey", action="create")
    assert (entry.source, entry.actor_user, entry.advertiser, entry.object_id) == (
        "api",
        t.owner,
        t.advertiser,
        str(key.pk),
    )
    assert "secret_hash" not in entry.after
    assert token not in str(entry.after)


def test_an_agency_admin_creates_an_agency_key(world: World) -> None:
    body = {"name": "Agency bidder", "agency": world.agency.pk, "role": "admin"}
    response = api(world.agency_admin).post(URL, body)
    assert response.status_code == 201
    key = ApiKey.objects.get(pk=response.json()["id"])
    assert (key.agency, key.advertiser, key.role) == (world.agency, None, "admin")


def test_an_admin_key_creates_keys_within_its_scope(world: World) -> None:
    t = world.tenants
    parent, token = issue_api_key(name="Parent", advertiser=t.advertiser, role=Role.ADMIN)
    response = api(token).post(URL, {"name": "Child", "advertiser": t.advertiser.pk, "role": "analyst"})
    assert response.status_code == 201, response.content
    child = ApiKey.objects.get(pk=response.json()["id"])
    assert child.created_by is None
    assert response.json()["created_by"] is None
    entry = AuditLog.objects.get(object_type="accounts.ApiKey", action="create")
    assert (entry.actor_api_key, entry.actor_user, entry.source) == (parent, None, "api")


def test_a_key_cannot_create_a_wider_key(world: World) -> None:
    t = world.tenants
    _, token = issue_api_key(advertiser=t.advertiser, role=Role.ADMIN)
    # Its agency, or a sister advertiser of the same agency, are not its to name.
    response = api(token).post(URL, {"name": "Wider", "agency": world.agency.pk, "role": "admin"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["agency"]
    response = api(token).post(URL, {"name": "Sideways", "advertiser": world.sister.pk, "role": "admin"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["advertiser"]
    # An agency admin key may create keys for the agency and any of its advertisers.
    _, agency_token = issue_api_key(agency=world.agency, role=Role.ADMIN)
    response = api(agency_token).post(
        URL, {"name": "Narrower", "advertiser": world.sister.pk, "role": "admin"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ANALYST])
def test_keys_below_admin_cannot_create_keys(world: World, role: Role) -> None:
    t = world.tenants
    _, token = issue_api_key(agency=world.agency, role=role)
    for body in (
        {"name": "Same", "agency": world.agency.pk, "role": "analyst"},
        {"name": "Narrower", "advertiser": t.advertiser.pk, "role": "analyst"},
    ):
        response = api(token).post(URL, body)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert not ApiKey.objects.filter(name__in=["Same", "Narrower"]).exists()


def test_users_who_are_not_admins_cannot_create_keys(world: World) -> None:
    t = world.tenants
    body = {"name": "Mine", "advertiser": t.advertiser.pk, "role": "analyst"}
    manager = MembershipFactory(advertiser=t.advertiser, role=Role.MANAGER).user
    assert api(t.analyst).post(URL, body).status_code == 403
    assert api(manager).post(URL, body).status_code == 403
    response = api(t.outsider).post(URL, body)
    assert response.status_code == 400  # another tenant's advertiser
    assert list(response.json()["error"]["fields"]) == ["advertiser"]
    response = api(t.owner).post(URL, {**body, "advertiser": None, "agency": world.agency.pk})
    assert response.status_code == 400  # not a member of the agency
    assert not ApiKey.objects.filter(name="Mine").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"role": "owner"}, "role"),
        ({"advertiser": None}, "non_field_errors"),
        ({"agency": "AGENCY"}, "non_field_errors"),
    ],
)
def test_invalid_keys_are_refused(world: World, change: dict, field: str) -> None:
    body = {"name": "Key", "advertiser": world.tenants.advertiser.pk, "role": "analyst", **change}
    if body.get("agency") == "AGENCY":
        body["agency"] = world.agency.pk
    response = api(world.agency_admin).post(URL, body)
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]


def test_no_key_is_issued_on_a_suspended_account(world: World) -> None:
    t = world.tenants
    Advertiser.objects.filter(pk=t.advertiser.pk).update(status=Advertiser.Status.SUSPENDED)
    response = api(t.owner).post(URL, {"name": "Key", "advertiser": t.advertiser.pk, "role": "analyst"})
    assert response.status_code == 403


def test_an_idempotent_retry_creates_nothing_and_does_not_show_the_token_again(
    world: World, redis_client
) -> None:
    t = world.tenants
    body = {"name": "Retried", "advertiser": t.advertiser.pk, "role": "analyst"}
    client = api(t.owner)
    first = client.post(URL, body, HTTP_IDEMPOTENCY_KEY="create-key-1")
    assert first.status_code == 201
    assert first.json()["token"].startswith("adw_")
    replay = client.post(URL, body, HTTP_IDEMPOTENCY_KEY="create-key-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == {**first.json(), "token": None}
    assert ApiKey.objects.filter(name="Retried").count() == 1
    assert AuditLog.objects.filter(object_type="accounts.ApiKey", action="create").count() == 1
    assert first.json()["token"].encode() not in b"".join(
        redis_client.get(k) or b"" for k in redis_client.scan_iter()
    )
    other = client.post(URL, {**body, "role": "manager"}, HTTP_IDEMPOTENCY_KEY="create-key-1")
    assert other.status_code == 422


# ---------------------------------------------------------------------------------------------------
# Revoking


def test_revoke_keeps_the_row_audits_and_the_key_gets_401(world: World) -> None:
    t = world.tenants
    key, token = issue_api_key(name="Doomed", advertiser=t.advertiser, role=Role.ANALYST)
    assert api(token).get("/api/v1/advertisers").status_code == 200
    response = api(t.owner).post(f"{URL}/{key.pk}/revoke")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_active"] is False
    assert body["revoked_at"] is not None
    key.refresh_from_db()
    assert key.revoked_at is not None
    entry = AuditLog.objects.get(object_type="accounts.ApiKey", action="revoke")
    assert (entry.source, entry.actor_user, entry.object_id, entry.advertiser) == (
        "api",
        t.owner,
        str(key.pk),
        t.advertiser,
    )
    assert entry.before == {"revoked_at": None}
    unauthorised = api(token).get("/api/v1/advertisers")
    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]["code"] == "authentication_failed"
    # Revoking again changes nothing and logs nothing.
    assert api(t.owner).post(f"{URL}/{key.pk}/revoke").status_code == 200
    assert AuditLog.objects.filter(action="revoke").count() == 1


def test_delete_revokes_too(world: World) -> None:
    t = world.tenants
    key, token = issue_api_key(advertiser=t.advertiser, role=Role.ANALYST)
    response = api(t.owner).delete(f"{URL}/{key.pk}")
    assert response.status_code == 204
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditLog.objects.filter(
        object_type="accounts.ApiKey", action="revoke", object_id=str(key.pk)
    ).exists()
    assert api(token).get(URL).status_code == 401


def test_a_key_may_revoke_itself(world: World) -> None:
    t = world.tenants
    key, token = issue_api_key(advertiser=t.advertiser, role=Role.ADMIN)
    response = api(token).post(f"{URL}/{key.pk}/revoke")
    assert response.status_code == 200
    entry = AuditLog.objects.get(action="revoke")
    assert (entry.actor_api_key, entry.actor_user) == (key, None)
    assert api(token).get(URL).status_code == 401


def test_only_admins_revoke(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{world.advertiser_key.pk}/revoke"
    manager = MembershipFactory(advertiser=t.advertiser, role=Role.MANAGER).user
    _, manager_token = issue_api_key(agency=world.agency, role=Role.MANAGER)
    assert api(t.analyst).post(url).status_code == 404  # an analyst does not see keys at all
    assert api(manager).post(url).status_code == 404
    assert api(manager_token).post(url).status_code == 404
    assert api(t.outsider).post(url).status_code == 404
    assert api(t.outsider).delete(f"{URL}/{world.advertiser_key.pk}").status_code == 404
    world.advertiser_key.refresh_from_db()
    assert world.advertiser_key.is_active
    assert api(world.agency_admin).post(url).status_code == 200


def test_a_stale_if_match_refuses_the_revocation(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{world.advertiser_key.pk}"
    etag = api(t.owner).get(url)["ETag"]
    assert api(t.owner).post(f"{url}/revoke", HTTP_IF_MATCH='"stale"').status_code == 412
    assert api(t.owner).post(f"{url}/revoke", HTTP_IF_MATCH=etag).status_code == 200


def test_keys_can_be_revoked_on_a_suspended_account(world: World) -> None:
    t = world.tenants
    Advertiser.objects.filter(pk=t.advertiser.pk).update(status=Advertiser.Status.SUSPENDED)
    assert api(t.owner).post(f"{URL}/{world.advertiser_key.pk}/revoke").status_code == 200


def test_keys_are_never_edited(world: World) -> None:
    url = f"{URL}/{world.agency_key.pk}"
    assert api(world.agency_admin).patch(url, {"role": "admin"}).status_code == 405
    assert api(world.agency_admin).put(url, {"name": "x", "role": "admin"}).status_code == 405
    world.agency_key.refresh_from_db()
    assert world.agency_key.role == "manager"
