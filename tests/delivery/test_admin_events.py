"""The read-only event pages in the admin (delivery/admin_events.py): /admin/events/<kind>/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import include, path, reverse

import config.urls
from accounts.models import User
from delivery import ingest
from delivery.events import EventKind, emit_many, new_event_id
from tests.conftest import client_for
from tests.delivery.test_ingest import click, decision, impression, notice
from tests.factories import UserFactory

# Mounted before the admin, as config/urls.py is to mount it (a no-op once it does).
urlpatterns = [path("admin/events/", include("delivery.admin_events")), *config.urls.urlpatterns]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def events(redis_client) -> dict[str, str]:
    """Three decisions ingested as the ad server writes them: two of campaign 12 (advertiser 11), one
    of campaign 22 (advertiser 21), each with an impression; one click flagged as a crawler's."""
    ids = {"a": new_event_id(), "b": new_event_id(), "other": new_event_id()}
    emit_many(
        [
            (EventKind.DECISION, decision(ids["a"], request_id="req-a")),
            (EventKind.DECISION, decision(ids["b"], request_id="req-b")),
            (
                EventKind.DECISION,
                decision(ids["other"], campaign_id=22, advertiser_id=21, request_id="req-o"),
            ),
            *[(EventKind.IMPRESSION, impression(event_id)) for event_id in ids.values()],
            (EventKind.CLICK, click(ids["a"], ivt_reason="crawler")),
            (EventKind.CLICK, click(ids["other"])),
            (EventKind.NOTICE, notice(ids["b"], "win")),
        ]
    )
    assert ingest.drain("test-consumer").inserted_total == 9
    return ids


@pytest.fixture
def staff(db: None) -> User:
    user = UserFactory.create(email="ops@adwright.test", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_decisionevent"))
    return user


def url(kind: str, **query: str) -> str:
    base = reverse("admin_events:list", kwargs={"kind": kind})
    return base + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def event_ids(response) -> set[str]:
    index = response.context["columns"].index("event_id")
    return {str(row[index]) for row in response.context["rows"]}


def test_staff_see_ingested_decisions_newest_first(staff: User, events: dict[str, str]) -> None:
    response = client_for(staff).get(url("decisions"))
    assert response.status_code == 200
    assert event_ids(response) == set(events.values())
    decided = [row[0] for row in response.context["rows"]]
    assert decided == sorted(decided, reverse=True)
    assert b"Adwright administration" in response.content  # the admin's own layout


def test_filters_by_campaign_advertiser_ivt_and_day(staff: User, events: dict[str, str]) -> None:
    client = client_for(staff)
    assert event_ids(client.get(url("decisions", campaign="12"))) == {events["a"], events["b"]}
    assert event_ids(client.get(url("impressions", advertiser="21"))) == {events["other"]}
    assert event_ids(client.get(url("clicks", ivt="crawler"))) == {events["a"]}
    assert event_ids(client.get(url("clicks", ivt="any"))) == {events["a"]}
    assert event_ids(client.get(url("notices", campaign="12"))) == {events["b"]}
    today = datetime.now(UTC).date()
    assert event_ids(client.get(url("decisions", day=today.isoformat()))) == set(events.values())
    assert event_ids(client.get(url("decisions", day=(today - timedelta(days=1)).isoformat()))) == set()


def test_impressions_show_their_decisions_campaign(staff: User, events: dict[str, str]) -> None:
    response = client_for(staff).get(url("impressions"))
    columns = response.context["columns"]
    campaigns = {
        str(row[columns.index("event_id")]): row[columns.index("campaign_id")]
        for row in response.context["rows"]
    }
    assert campaigns == {events["a"]: 12, events["b"]: 12, events["other"]: 22}


def test_a_bad_filter_is_named_not_a_500(staff: User, events: dict[str, str]) -> None:
    response = client_for(staff).get(url("decisions", campaign="abc", day="2026-13-45"))
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert set(response.context["form"].errors) == {"campaign", "day"}
    assert b"Campaign id: Enter a whole number." in response.content


def test_unknown_kind_is_404(staff: User) -> None:
    assert client_for(staff).get(url("truths")).status_code == 404


def test_non_staff_go_to_the_admin_login_and_staff_without_permission_get_403(
    events: dict[str, str], tenants
) -> None:
    response = client_for(tenants.owner).get(url("decisions"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert Client().get(url("decisions")).status_code == 302

    plain_staff = UserFactory.create(email="helpdesk@adwright.test", is_staff=True)
    assert client_for(plain_staff).get(url("decisions")).status_code == 403


def test_no_way_to_write_through_the_pages(staff: User, events: dict[str, str]) -> None:
    response = client_for(staff).post(url("decisions"), {"campaign": "12"})
    # A POST is only a GET without a query: nothing on these pages takes input other than filters.
    assert response.status_code == 200
    assert b'<form method="post"' not in response.content
