"""/api/v1/audit-log: the log of the caller's advertisers, read only, newest first, by cursor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Advertiser, AuditLog, Role
from tests.conftest import Tenants
from tests.conftest import api_client as api
from tests.factories import MembershipFactory, UserFactory, issue_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-log"
NOW = timezone.now()


def entry(
    advertiser: Advertiser | None, action: str, source: str, hours_ago: int, **fields: object
) -> AuditLog:
    # Written directly, with the time set at creation: the log refuses updates.
    values: dict = {
        "advertiser": advertiser,
        "actor_label": "someone@example.com",
        "source": source,
        "action": action,
        "object_type": "accounts.Advertiser",
        "object_id": str(advertiser.pk) if advertiser else "0",
        "object_repr": str(advertiser),
        "after": {"name": action},
        "created_at": NOW - timedelta(hours=hours_ago),
        **fields,
    }
    return AuditLog.objects.create(**values)


@pytest.fixture
def log(tenants: Tenants) -> list[AuditLog]:
    """Three entries on the tenants' advertiser (newest first) and one on another advertiser."""
    ours = [
        entry(tenants.advertiser, "pause", "admin", 1),
        entry(tenants.advertiser, "update", "api", 2, object_type="campaigns.Campaign", object_id="77"),
        entry(tenants.advertiser, "create", "web", 3),
    ]
    entry(tenants.other_advertiser, "update", "web", 1)
    return ours


def actions(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["action"] for row in response.json()["results"]]


def test_each_caller_reads_its_advertisers_log_newest_first(tenants: Tenants, log: list[AuditLog]) -> None:
    assert actions(api(tenants.owner).get(URL)) == ["pause", "update", "create"]
    assert actions(api(tenants.analyst).get(URL)) == ["pause", "update", "create"]
    assert actions(api(tenants.outsider).get(URL)) == ["update"]
    agency_member = MembershipFactory(
        agency=tenants.advertiser.agency, advertiser=None, role=Role.ANALYST
    ).user
    assert actions(api(agency_member).get(URL)) == ["pause", "update", "create"]
    _, token = issue_api_key(advertiser=tenants.advertiser, role=Role.ANALYST)
    assert actions(api(token).get(URL)) == ["pause", "update", "create"]
    _, agency_token = issue_api_key(agency=tenants.advertiser.agency, role=Role.MANAGER)
    assert actions(api(agency_token).get(URL)) == ["pause", "update", "create"]
    assert actions(api(UserFactory()).get(URL)) == []
    assert api().get(URL).status_code == 401


def test_an_entry_shows_who_what_and_the_values(tenants: Tenants, log: list[AuditLog]) -> None:
    response = api(tenants.analyst).get(f"{URL}/{log[1].pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": log[1].pk,
        "created_at": log[1].created_at.isoformat().replace("+00:00", "Z"),
        "advertiser": tenants.advertiser.pk,
        "source": "api",
        "action": "update",
        "object_type": "campaigns.Campaign",
        "object_id": "77",
        "object_repr": "Acme Shoes",
        "actor_label": "someone@example.com",
        "actor_user": None,
        "actor_api_key": None,
        "before": None,
        "after": {"name": "update"},
    }
    assert api(tenants.outsider).get(f"{URL}/{log[1].pk}").status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "update"}, ["update"]),
        ({"source": "web"}, ["create"]),
        ({"object_type": "campaigns.Campaign", "object_id": "77"}, ["update"]),
        ({"object_type": "accounts.Advertiser"}, ["pause", "create"]),
        ({"created_after": (NOW - timedelta(hours=2, minutes=30)).isoformat()}, ["pause", "update"]),
        ({"created_before": (NOW - timedelta(hours=1, minutes=30)).isoformat()}, ["update", "create"]),
    ],
)
def test_filters(tenants: Tenants, log: list[AuditLog], params: dict, expected: list[str]) -> None:
    assert actions(api(tenants.owner).get(URL, params)) == expected


def test_filter_by_advertiser(tenants: Tenants, log: list[AuditLog]) -> None:
    client = api(tenants.owner)
    assert actions(client.get(URL, {"advertiser": tenants.advertiser.pk})) == ["pause", "update", "create"]
    assert actions(client.get(URL, {"advertiser": tenants.other_advertiser.pk})) == []
    bad = client.get(URL, {"source": "mail"})
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["source"]


def test_cursor_pagination(tenants: Tenants, log: list[AuditLog]) -> None:
    client = api(tenants.owner)
    first = client.get(URL, {"page_size": 2}).json()
    assert [row["action"] for row in first["results"]] == ["pause", "update"]
    assert first["previous"] is None
    assert "cursor=" in first["next"]
    second = client.get(first["next"]).json()
    assert [row["action"] for row in second["results"]] == ["create"]
    assert second["next"] is None


def test_the_list_costs_the_same_queries_for_many_rows(tenants: Tenants, log: list[AuditLog]) -> None:
    client = api(tenants.owner)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for hours in range(4, 24):
        entry(tenants.advertiser, "update", "web", hours)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(URL).json()["results"]) == 23
    assert len(many) == len(few)


def test_the_log_is_read_only(tenants: Tenants, log: list[AuditLog]) -> None:
    client = api(tenants.owner)
    assert client.post(URL, {"action": "forged"}).status_code == 405
    assert client.patch(f"{URL}/{log[0].pk}", {"action": "forged"}).status_code == 405
    assert client.delete(f"{URL}/{log[0].pk}").status_code == 405
    assert AuditLog.objects.filter(action="forged").count() == 0


def test_platform_staff_read_entries_without_an_advertiser(tenants: Tenants, log: list[AuditLog]) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    agency_level = entry(None, "create", "admin", 0, object_type="accounts.Membership")
    response = api(staff).get(f"{URL}/{agency_level.pk}")
    assert response.status_code == 200
    assert response.json()["advertiser"] is None
    assert api(tenants.owner).get(f"{URL}/{agency_level.pk}").status_code == 404


def test_agency_members_and_agency_keys_read_agency_level_changes(tenants: Tenants) -> None:
    agency = tenants.advertiser.agency
    member = MembershipFactory(agency=agency, advertiser=None, role=Role.ANALYST).user
    _, agency_key = issue_api_key(agency=agency, role=Role.ANALYST)
    _, advertiser_key = issue_api_key(advertiser=tenants.advertiser, role=Role.ADMIN)
    newcomer = UserFactory()
    api(agency_key).post(
        "/api/v1/members", {"email": newcomer.email, "role": "analyst", "agency": agency.pk}, format="json"
    )  # an analyst key may not add members: nothing logged; an admin does it below
    _, admin_key = issue_api_key(agency=agency, role=Role.ADMIN)
    created = api(admin_key).post(
        "/api/v1/members", {"email": newcomer.email, "role": "analyst", "agency": agency.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    agency_entry = AuditLog.objects.get(object_type="accounts.Membership", action="create")
    assert agency_entry.advertiser is None and agency_entry.agency == agency

    assert api(member).get(f"{URL}/{agency_entry.pk}").status_code == 200
    assert api(agency_key).get(f"{URL}/{agency_entry.pk}").status_code == 200
    # An advertiser-scoped key, and the other agency's people, do not see the agency's own changes.
    assert api(advertiser_key).get(f"{URL}/{agency_entry.pk}").status_code == 404
    assert api(tenants.outsider).get(f"{URL}/{agency_entry.pk}").status_code == 404
