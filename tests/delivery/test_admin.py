"""The platform admin for inventory: publishers and their placements."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from delivery.models import Placement
from tests.admin_helpers import admin_form_data, changelist_queries
from tests.conftest import Tenants, client_for
from tests.factories import PlacementFactory, PublisherFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db: None) -> User:
    return UserFactory.create(email="inventory@adwright.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(superuser: User) -> Client:
    return client_for(superuser)


@pytest.fixture
def placement(db: None) -> Placement:
    return PlacementFactory.create(name="Sidebar", publisher__name="Daily News", floor_cpm_micros=1_250_000)


def objects_of(placement: Placement) -> dict[str, Any]:
    return {"publisher": placement.publisher, "placement": placement}


@pytest.mark.parametrize("model", ["publisher", "placement"])
def test_changelist_add_and_change_pages_render(
    staff_client: Client, placement: Placement, model: str
) -> None:
    obj = objects_of(placement)[model]
    for url in [
        reverse(f"admin:delivery_{model}_changelist"),
        reverse(f"admin:delivery_{model}_changelist") + "?q=daily",
        reverse(f"admin:delivery_{model}_add"),
        reverse(f"admin:delivery_{model}_change", args=[obj.pk]),
    ]:
        assert staff_client.get(url).status_code == 200, url


@pytest.mark.parametrize("model", ["publisher", "placement"])
def test_non_staff_is_sent_to_the_admin_login(tenants: Tenants, model: str) -> None:
    response = client_for(tenants.owner).get(reverse(f"admin:delivery_{model}_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", ["publisher", "placement"])
def test_changelists_query_count_does_not_grow_with_rows(
    staff_client: Client, placement: Placement, model: str
) -> None:
    url = reverse(f"admin:delivery_{model}_changelist")
    before = changelist_queries(staff_client, url)
    for _ in range(3):
        PlacementFactory.create(publisher=PublisherFactory.create())
    assert changelist_queries(staff_client, url) == before


def test_floor_is_shown_as_money(staff_client: Client, placement: Placement) -> None:
    assert "$1.25" in staff_client.get(reverse("admin:delivery_placement_changelist")).content.decode()
    change = staff_client.get(
        reverse("admin:delivery_placement_change", args=[placement.pk])
    ).content.decode()
    assert "$1.25" in change


def test_placement_rules_apply_in_the_admin(staff_client: Client, placement: Placement) -> None:
    url = reverse("admin:delivery_placement_change", args=[placement.pk])
    data = admin_form_data(staff_client.get(url))
    data["sizes"] = "300x250,123x45"
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert "Not IAB sizes: 123x45." in str(response.context["adminform"].form.errors["sizes"])

    data["sizes"] = "300x250,728x90"
    data["floor_cpm_micros"] = 2_000_000
    assert staff_client.post(url, data).status_code == 302
    placement.refresh_from_db()
    assert (placement.sizes, placement.floor_cpm_micros) == (["300x250", "728x90"], 2_000_000)


def test_add_a_placement_from_the_publisher_page(staff_client: Client, placement: Placement) -> None:
    url = reverse("admin:delivery_publisher_change", args=[placement.publisher.pk])
    data = admin_form_data(staff_client.get(url))
    data.update(
        {
            "placements-TOTAL_FORMS": 2,
            "placements-1-name": "Footer",
            "placements-1-key": "daily-news-footer",
            "placements-1-format": "native",
            "placements-1-sizes": "",
            "placements-1-floor_cpm_micros": 800_000,
            "placements-1-daily_requests": 5000,
            "placements-1-is_active": "on",
        }
    )
    response = staff_client.post(url, data)
    assert response.status_code == 302
    footer = Placement.objects.get(key="daily-news-footer")
    assert (footer.publisher, footer.format, footer.sizes) == (placement.publisher, "native", [])
