"""/api/v1/conversion-events: create, read, update and list, by the owner, an analyst and an outsider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from campaigns.models import ConversionEvent
from tests.campaigns.test_api_campaigns import (
    Callers,
    audit_entries,
    error_of,
    ids,
    key_caller,
    make_callers,
)
from tests.conftest import Tenants
from tests.factories import AdvertiserFactory, ConversionEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def callers(tenants: Tenants, redis_client: Any) -> Callers:
    return make_callers(tenants)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


URL = "/api/v1/conversion-events"


def event_body(callers: Callers, **fields: Any) -> dict[str, Any]:
    return {"advertiser": callers.advertiser.pk, "name": "Sign-up", "category": "sign_up", **fields}


def test_an_editor_creates_an_event(callers: Callers) -> None:
    response = callers.owner.post(
        URL, event_body(callers, click_window_days=30, default_value_micros=5_000_000)
    )

    assert response.status_code == 201, response.content
    event = ConversionEvent.objects.get(pk=response.json()["id"])
    assert (event.advertiser, event.click_window_days, event.default_value_micros) == (
        callers.advertiser,
        30,
        5_000_000,
    )
    assert [e.action for e in audit_entries(event)] == ["create"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [({"click_window_days": 91}, "click_window_days"), ({"view_window_days": -1}, "view_window_days"),
     ({"category": "dance"}, "category"), ({"default_value_micros": -1}, "default_value_micros")],
)  # fmt: skip
def test_invalid_events_are_refused(callers: Callers, fields: dict[str, Any], path: str) -> None:
    error = error_of(callers.owner.post(URL, event_body(callers, **fields)), 400)

    assert path in error["fields"]


def test_names_are_unique_per_advertiser(callers: Callers) -> None:
    ConversionEventFactory(advertiser=callers.advertiser, name="Sign-up")

    error = error_of(callers.owner.post(URL, event_body(callers)), 400)

    assert list(error["fields"].values()) == [
        ["Conversion event with this Advertiser and Name already exists."]
    ]


def test_a_foreign_advertiser_is_unknown_and_an_analyst_cannot_write(callers: Callers) -> None:
    foreign = error_of(
        callers.owner.post(URL, event_body(callers, advertiser=callers.tenants.other_advertiser.pk)), 400
    )
    analyst = error_of(callers.analyst_session.post(URL, event_body(callers)), 403)

    assert list(foreign["fields"]) == ["advertiser"]
    assert analyst["code"] == "permission_denied"
    assert not ConversionEvent.objects.exists()


def test_read_update_and_foreign_urls(callers: Callers) -> None:
    event = ConversionEventFactory(advertiser=callers.advertiser, name="Purchase")

    read = callers.analyst.get(f"{URL}/{event.pk}")
    turned_off = callers.owner.patch(
        f"{URL}/{event.pk}", {"is_active": False, "created_at": "2001-01-01T00:00:00Z"}
    )
    analyst = callers.analyst.patch(f"{URL}/{event.pk}", {"name": "Mine"})
    outsider = callers.outsider.get(f"{URL}/{event.pk}")

    assert read.status_code == 200 and read.json()["name"] == "Purchase"
    assert turned_off.status_code == 200 and turned_off.json()["is_active"] is False
    error_of(analyst, 403)
    error_of(outsider, 404)
    event.refresh_from_db()
    assert (event.is_active, event.name, event.created_at.year > 2001) == (False, "Purchase", True)


def test_an_event_cannot_move_to_another_advertiser(callers: Callers) -> None:
    event = ConversionEventFactory(advertiser=callers.advertiser)
    sister = AdvertiserFactory(agency=callers.advertiser.agency)

    error = error_of(
        key_caller(agency=callers.advertiser.agency).patch(f"{URL}/{event.pk}", {"advertiser": sister.pk}),
        400,
    )

    assert list(error["fields"]) == ["advertiser"]


def test_list_and_filters(callers: Callers, django_assert_num_queries: Any) -> None:
    purchase = ConversionEventFactory(advertiser=callers.advertiser, category="purchase")
    lead = ConversionEventFactory(advertiser=callers.advertiser, category="lead", is_active=False)
    ConversionEventFactory(advertiser=callers.tenants.other_advertiser)

    assert set(ids(callers.owner.get(URL))) == {purchase.pk, lead.pk}
    assert ids(callers.owner.get(URL, {"category": "lead"})) == [lead.pk]
    assert ids(callers.owner.get(URL, {"is_active": "true"})) == [purchase.pk]
    assert ids(callers.owner.get(URL, {"advertiser": callers.tenants.other_advertiser.pk})) == []
    with django_assert_num_queries(2):  # the key, the page
        callers.owner.get(URL)


def test_the_event_token_is_given_for_postbacks_and_cannot_be_set(callers: Callers) -> None:
    response = callers.owner.post(URL, event_body(callers, token="chosen-by-the-client"))

    assert response.status_code == 201, response.content
    event = ConversionEvent.objects.get(pk=response.json()["id"])
    assert response.json()["token"] == event.token != "chosen-by-the-client"
    assert len(event.token) >= 24
