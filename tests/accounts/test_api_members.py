"""/api/v1/members: who has which role on the caller's advertisers and agencies. Only an admin of an
advertiser or agency gives, changes or takes away a role there; the last admin stays."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Advertiser, Agency, AuditLog, Membership, Role, User
from tests.conftest import Tenants
from tests.conftest import api_client as api
from tests.factories import AdvertiserFactory, MembershipFactory, UserFactory, issue_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/members"


@dataclass
class World:
    tenants: Tenants
    agency: Agency
    agency_admin: User
    agency_analyst: User
    newcomer: User  # has an account, no role anywhere yet

    def membership(self, user: User, **scope: object) -> Membership:
        return Membership.objects.get(user=user, **scope)


@pytest.fixture
def world(tenants: Tenants) -> World:
    agency = tenants.advertiser.agency
    assert agency is not None
    agency_admin = MembershipFactory(agency=agency, advertiser=None, role=Role.ADMIN).user
    agency_analyst = MembershipFactory(agency=agency, advertiser=None, role=Role.ANALYST).user
    newcomer = UserFactory(email="newcomer@acme.test")
    return World(tenants, agency, agency_admin, agency_analyst, newcomer)


def emails(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["user"]["email"] for row in response.json()["results"]}


# ---------------------------------------------------------------------------------------------------
# Reading


def test_members_of_the_callers_advertisers_and_agencies(world: World) -> None:
    t = world.tenants
    advertiser_members = {"owner@acme.test", "analyst@acme.test"}
    agency_members = {world.agency_admin.email, world.agency_analyst.email}
    assert emails(api(t.owner).get(URL)) == advertiser_members
    assert emails(api(t.analyst).get(URL)) == advertiser_members
    assert emails(api(t.outsider).get(URL)) == {"outsider@globex.test"}
    assert emails(api(world.agency_analyst).get(URL)) == advertiser_members | agency_members
    _, advertiser_token = issue_api_key(advertiser=t.advertiser, role=Role.ANALYST)
    assert emails(api(advertiser_token).get(URL)) == advertiser_members
    _, agency_token = issue_api_key(agency=world.agency, role=Role.ANALYST)
    assert emails(api(agency_token).get(URL)) == advertiser_members | agency_members


def test_list_shape_and_filters(world: World) -> None:
    t = world.tenants
    client = api(world.agency_admin)
    row = next(r for r in client.get(URL).json()["results"] if r["user"]["email"] == "owner@acme.test")
    assert set(row) == {"id", "user", "advertiser", "agency", "role", "created_at"}
    assert row["user"] == {"id": t.owner.pk, "email": "owner@acme.test", "full_name": t.owner.full_name}
    assert (row["advertiser"], row["agency"], row["role"]) == (t.advertiser.pk, None, "admin")
    assert emails(client.get(URL, {"role": "analyst"})) == {"analyst@acme.test", world.agency_analyst.email}
    assert emails(client.get(URL, {"agency": world.agency.pk})) == {
        world.agency_admin.email,
        world.agency_analyst.email,
    }
    assert emails(client.get(URL, {"advertiser": t.advertiser.pk})) == {
        "owner@acme.test",
        "analyst@acme.test",
    }
    assert emails(client.get(URL, {"email": "OWNER@acme.test"})) == {"owner@acme.test"}
    assert emails(client.get(URL, {"advertiser": t.other_advertiser.pk})) == set()
    for bad in ({"role": "boss"}, {"role": ""}, {"advertiser": "1.5"}, {"agency": ""}):
        response = client.get(URL, bad)
        assert response.status_code == 400, bad
        assert list(response.json()["error"]["fields"]) == list(bad)


def test_the_list_costs_the_same_queries_for_many_rows(world: World) -> None:
    client = api(world.tenants.owner)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    MembershipFactory.create_batch(15, advertiser=world.tenants.advertiser, role=Role.ANALYST)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(URL).json()["results"]) == 17
    assert len(many) == len(few)


def test_retrieve_and_foreign_ids(world: World) -> None:
    t = world.tenants
    mine = world.membership(t.analyst)
    response = api(t.analyst).get(f"{URL}/{mine.pk}")
    assert response.status_code == 200
    assert response["ETag"]
    foreign = world.membership(t.outsider)
    assert api(t.owner).get(f"{URL}/{foreign.pk}").status_code == 404
    agency_row = world.membership(world.agency_admin)
    assert api(t.owner).get(f"{URL}/{agency_row.pk}").status_code == 404  # not a member of the agency
    assert api(world.agency_analyst).get(f"{URL}/{agency_row.pk}").status_code == 200
    assert api().get(URL).status_code == 401


# ---------------------------------------------------------------------------------------------------
# Giving a role


def test_an_advertiser_admin_adds_a_member_by_email_audited(world: World) -> None:
    t = world.tenants
    response = api(t.owner).post(
        URL, {"email": "NEWCOMER@acme.test", "advertiser": t.advertiser.pk, "role": "manager"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["email"] == "newcomer@acme.test"
    assert (body["advertiser"], body["agency"], body["role"]) == (t.advertiser.pk, None, "manager")
    membership = Membership.objects.get(pk=body["id"])
    assert membership.user == world.newcomer
    entry = AuditLog.objects.get(object_type="accounts.Membership", object_id=str(membership.pk))
    assert (entry.action, entry.source, entry.actor_user, entry.advertiser) == (
        "create",
        "api",
        t.owner,
        t.advertiser,
    )
    assert entry.after["role"] == "manager"


def test_an_agency_admin_adds_a_member_to_the_agency(world: World) -> None:
    body = {"email": world.newcomer.email, "agency": world.agency.pk, "role": "analyst"}
    response = api(world.agency_admin).post(URL, body)
    assert response.status_code == 201, response.content
    assert world.membership(world.newcomer, agency=world.agency).role == "analyst"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.ANALYST])
def test_keys_add_members_by_their_role(world: World, role: Role) -> None:
    t = world.tenants
    key, token = issue_api_key(advertiser=t.advertiser, role=role)
    response = api(token).post(
        URL, {"email": world.newcomer.email, "advertiser": t.advertiser.pk, "role": "analyst"}
    )
    if role == Role.ADMIN:
        assert response.status_code == 201
        entry = AuditLog.objects.get(object_type="accounts.Membership", action="create")
        assert (entry.source, entry.actor_api_key, entry.actor_user) == ("api", key, None)
    else:
        assert response.status_code == 403
        assert not Membership.objects.filter(user=world.newcomer).exists()


def test_nobody_grants_a_role_where_they_are_not_admin(world: World) -> None:
    t = world.tenants
    on_advertiser = {"email": world.newcomer.email, "advertiser": t.advertiser.pk, "role": "admin"}
    on_agency = {"email": world.newcomer.email, "agency": world.agency.pk, "role": "admin"}
    manager = MembershipFactory(advertiser=t.advertiser, role=Role.MANAGER).user
    assert api(t.analyst).post(URL, on_advertiser).status_code == 403
    assert api(manager).post(URL, on_advertiser).status_code == 403
    assert api(world.agency_analyst).post(URL, on_agency).status_code == 403
    assert api(world.agency_analyst).post(URL, on_advertiser).status_code == 403
    # An advertiser's admin does not belong to its agency: the agency is not theirs to name.
    response = api(t.owner).post(URL, on_agency)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["agency"]
    # Another tenant's advertiser is as if it did not exist.
    response = api(t.outsider).post(URL, on_advertiser)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["advertiser"]
    assert not Membership.objects.filter(user=world.newcomer).exists()


def test_an_analyst_learns_nothing_about_emails(world: World) -> None:
    t = world.tenants
    response = api(t.analyst).post(
        URL, {"email": "nobody@nowhere.test", "advertiser": t.advertiser.pk, "role": "analyst"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nobody@nowhere.test", "role": "analyst"}, "email"),
        ({"email": "owner@acme.test", "role": "analyst"}, "email"),  # already a member
        ({"email": "newcomer@acme.test", "role": "boss"}, "role"),
        ({"email": "not an email", "role": "analyst"}, "email"),
        ({"role": "analyst"}, "email"),
    ],
)
def test_invalid_members_are_refused_naming_the_field(world: World, body: dict, field: str) -> None:
    t = world.tenants
    response = api(t.owner).post(URL, {**body, "advertiser": t.advertiser.pk})
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_membership_is_on_exactly_one_of_advertiser_and_agency(world: World) -> None:
    t = world.tenants
    both = {
        "email": world.newcomer.email,
        "advertiser": t.advertiser.pk,
        "agency": world.agency.pk,
        "role": "analyst",
    }
    neither = {"email": world.newcomer.email, "role": "analyst"}
    for body in (both, neither):
        response = api(world.agency_admin).post(URL, body)
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["non_field_errors"]


def test_no_role_can_be_given_on_a_suspended_account(world: World) -> None:
    t = world.tenants
    Advertiser.objects.filter(pk=t.advertiser.pk).update(status=Advertiser.Status.SUSPENDED)
    response = api(t.owner).post(
        URL, {"email": world.newcomer.email, "advertiser": t.advertiser.pk, "role": "analyst"}
    )
    assert response.status_code == 403


# ---------------------------------------------------------------------------------------------------
# Changing a role


def test_an_admin_changes_a_role_audited(world: World) -> None:
    t = world.tenants
    analyst = world.membership(t.analyst)
    response = api(t.owner).patch(
        f"{URL}/{analyst.pk}", {"role": "manager", "advertiser": t.other_advertiser.pk}
    )
    assert response.status_code == 200, response.content
    analyst.refresh_from_db()
    assert (analyst.role, analyst.advertiser) == ("manager", t.advertiser)  # the scope is read only
    entry = AuditLog.objects.get(object_type="accounts.Membership", action="update")
    assert (entry.before, entry.after, entry.actor_user) == (
        {"role": "analyst"},
        {"role": "manager"},
        t.owner,
    )


def test_only_admins_change_roles(world: World) -> None:
    t = world.tenants
    owner = world.membership(t.owner)
    assert api(t.analyst).patch(f"{URL}/{owner.pk}", {"role": "analyst"}).status_code == 403
    assert api(world.agency_analyst).patch(f"{URL}/{owner.pk}", {"role": "analyst"}).status_code == 403
    assert api(t.outsider).patch(f"{URL}/{owner.pk}", {"role": "analyst"}).status_code == 404
    _, manager_token = issue_api_key(advertiser=t.advertiser, role=Role.MANAGER)
    assert api(manager_token).patch(f"{URL}/{owner.pk}", {"role": "analyst"}).status_code == 403
    owner.refresh_from_db()
    assert owner.role == "admin"
    # An agency admin is an admin of each of the agency's advertisers.
    assert api(world.agency_admin).patch(f"{URL}/{owner.pk}", {"role": "manager"}).status_code == 200


def test_an_admin_of_an_agency_advertiser_may_step_down(world: World) -> None:
    # The agency's admins still administer the advertiser.
    owner = world.membership(world.tenants.owner)
    assert api(world.tenants.owner).patch(f"{URL}/{owner.pk}", {"role": "analyst"}).status_code == 200


def test_the_last_admin_of_a_direct_advertiser_stays(world: World) -> None:
    direct = AdvertiserFactory(agency=None, name="Solo")
    admin = MembershipFactory(advertiser=direct, role=Role.ADMIN)
    response = api(admin.user).patch(f"{URL}/{admin.pk}", {"role": "manager"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "last_admin"
    assert api(admin.user).delete(f"{URL}/{admin.pk}").status_code == 409
    admin.refresh_from_db()
    assert admin.role == "admin"
    # With a second admin, the first may go.
    MembershipFactory(advertiser=direct, role=Role.ADMIN)
    assert api(admin.user).delete(f"{URL}/{admin.pk}").status_code == 204


def test_the_last_admin_of_an_agency_stays(world: World) -> None:
    row = world.membership(world.agency_admin)
    assert api(world.agency_admin).delete(f"{URL}/{row.pk}").status_code == 409
    assert api(world.agency_admin).patch(f"{URL}/{row.pk}", {"role": "analyst"}).status_code == 409


def test_a_stale_if_match_is_a_412(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{world.membership(t.analyst).pk}"
    etag = api(t.owner).get(url)["ETag"]
    assert api(t.owner).patch(url, {"role": "manager"}, HTTP_IF_MATCH=etag).status_code == 200
    assert api(t.owner).patch(url, {"role": "admin"}, HTTP_IF_MATCH=etag).status_code == 412
    assert api(t.owner).delete(url, HTTP_IF_MATCH=etag).status_code == 412
    assert world.membership(t.analyst).role == "manager"


def test_put_is_not_offered(world: World) -> None:
    t = world.tenants
    url = f"{URL}/{world.membership(t.analyst).pk}"
    assert api(t.owner).put(url, {"role": "manager"}).status_code == 405


# ---------------------------------------------------------------------------------------------------
# Taking a role away


def test_an_admin_removes_a_member_audited(world: World) -> None:
    t = world.tenants
    analyst = world.membership(t.analyst)
    response = api(t.owner).delete(f"{URL}/{analyst.pk}")
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=analyst.pk).exists()
    entry = AuditLog.objects.get(object_type="accounts.Membership", action="delete")
    assert (entry.object_id, entry.source, entry.actor_user, entry.advertiser) == (
        str(analyst.pk),
        "api",
        t.owner,
        t.advertiser,
    )
    assert entry.before["user_id"] == t.analyst.pk
    assert entry.after is None
    assert api(t.analyst).get(URL).json()["results"] == []  # no role: nothing to see


def test_only_admins_remove_members(world: World) -> None:
    t = world.tenants
    owner = world.membership(t.owner)
    assert api(t.analyst).delete(f"{URL}/{owner.pk}").status_code == 403
    assert api(t.outsider).delete(f"{URL}/{owner.pk}").status_code == 404
    _, analyst_token = issue_api_key(agency=world.agency, role=Role.ANALYST)
    assert api(analyst_token).delete(f"{URL}/{owner.pk}").status_code == 403
    assert Membership.objects.filter(pk=owner.pk).exists()
    _, admin_token = issue_api_key(agency=world.agency, role=Role.ADMIN)
    assert api(admin_token).delete(f"{URL}/{owner.pk}").status_code == 204


def test_members_can_be_removed_from_a_suspended_account(world: World) -> None:
    t = world.tenants
    Advertiser.objects.filter(pk=t.advertiser.pk).update(status=Advertiser.Status.SUSPENDED)
    assert api(t.owner).delete(f"{URL}/{world.membership(t.analyst).pk}").status_code == 204
