"""Optimistic concurrency (accounts/api/concurrency.py): every object response carries an ETag of
the object's stored state; a write with a stale If-Match answers 412 and changes nothing.

Two writers racing with the same If-Match are in test_races.py (threads).
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.audit import snapshot
from accounts.models import AuditLog
from tests.api.conftest import World, error_of

EVENTS = "/api/v1/conversion-events/"
STALE = '"0000000000000000000000000000dead"'


def event_url(world: World) -> str:
    return f"{EVENTS}{world.mine.conversion_event.pk}/"


def test_every_object_response_carries_the_same_etag_for_the_same_state(world: World) -> None:
    client = world.client("owner_key")
    first, second = client.get(event_url(world)), client.get(event_url(world))
    by_agency = world.client("agency").get(event_url(world))

    assert first["ETag"] == second["ETag"] == by_agency["ETag"]
    assert first["ETag"].startswith('"') and first["ETag"].endswith('"')


def test_a_change_gives_a_new_etag_and_the_response_has_it(world: World) -> None:
    client = world.client("owner_key")
    before = client.get(event_url(world))["ETag"]

    changed = client.patch(event_url(world), {"click_window_days": 14}, format="json", HTTP_IF_MATCH=before)

    assert changed.status_code == 200
    assert changed["ETag"] != before
    assert client.get(event_url(world))["ETag"] == changed["ETag"]


def test_a_write_that_changes_nothing_keeps_the_etag(world: World) -> None:
    client = world.client("owner_key")
    before = client.get(event_url(world))["ETag"]
    same = client.patch(event_url(world), {"name": world.mine.conversion_event.name}, format="json")
    assert same["ETag"] == before


def test_a_stale_if_match_answers_412_and_changes_nothing(world: World) -> None:
    client = world.client("owner_key")
    etag = client.get(event_url(world))["ETag"]
    assert client.patch(event_url(world), {"click_window_days": 14}, format="json").status_code == 200
    stored, audited = snapshot(_fresh(world.mine.conversion_event)), AuditLog.objects.count()

    late = client.patch(event_url(world), {"click_window_days": 30}, format="json", HTTP_IF_MATCH=etag)

    assert late.status_code == 412
    assert error_of(late)["code"] == "precondition_failed"
    assert snapshot(_fresh(world.mine.conversion_event)) == stored
    assert AuditLog.objects.count() == audited


def test_put_honours_if_match(world: World) -> None:
    body = {"advertiser": world.mine.advertiser.pk, "name": "Purchase", "category": "purchase"}
    response = world.client("owner_key").put(event_url(world), body, format="json", HTTP_IF_MATCH=STALE)
    assert response.status_code == 412


@pytest.mark.parametrize(
    "header",
    [
        "*",
        "{etag}",
        "W/{etag}",
        '"other", {etag}',
        '{etag} , "other"',
    ],
)
def test_accepted_if_match_forms(world: World, header: str) -> None:
    client = world.client("owner_key")
    etag = client.get(event_url(world))["ETag"]
    response = client.patch(
        event_url(world), {"click_window_days": 21}, format="json", HTTP_IF_MATCH=header.format(etag=etag)
    )
    assert response.status_code == 200, response.content


def test_if_match_is_checked_before_the_body(world: World) -> None:
    """A stale version is the answer even to an invalid body: the client must read again first."""
    response = world.client("owner_key").patch(
        event_url(world), {"click_window_days": 500}, format="json", HTTP_IF_MATCH=STALE
    )
    assert response.status_code == 412


def test_the_other_agency_learns_nothing_from_if_match(world: World) -> None:
    response = world.client("other_agency").patch(
        event_url(world), {"click_window_days": 3}, format="json", HTTP_IF_MATCH=STALE
    )
    assert response.status_code == 404


# Action endpoints and deletes honour If-Match too ------------------------------------------------


def _fresh(obj: Any) -> Any:
    return type(obj)._default_manager.get(pk=obj.pk)


def _actions(world: World) -> list[tuple[str, Any, Any]]:
    """(url, object, how to put it in a state where the action would succeed)."""
    mine = world.mine
    return [
        (f"/api/v1/api-keys/{mine.api_key.pk}/revoke/", mine.api_key, None),
        (f"/api/v1/campaigns/{mine.campaign.pk}/activate/", mine.campaign, None),
        (f"/api/v1/campaigns/{mine.campaign.pk}/pause/", mine.campaign, lambda: mine.campaign.activate()),
        (f"/api/v1/campaigns/{mine.campaign.pk}/archive/", mine.campaign, None),
        (f"/api/v1/campaigns/{mine.campaign.pk}/duplicate/", mine.campaign, None),
        (f"/api/v1/ad-groups/{mine.ad_group.pk}/pause/", mine.ad_group, None),
        (f"/api/v1/ad-groups/{mine.ad_group.pk}/archive/", mine.ad_group, None),
        (f"/api/v1/ad-groups/{mine.ad_group.pk}/duplicate/", mine.ad_group, None),
        (f"/api/v1/creatives/{mine.creative.pk}/pause/", mine.creative, None),
        (f"/api/v1/creatives/{mine.creative.pk}/archive/", mine.creative, None),
    ]


ACTIONS = [
    "api-key revoke",
    "campaign activate",
    "campaign pause",
    "campaign archive",
    "campaign duplicate",
    "ad group pause",
    "ad group archive",
    "ad group duplicate",
    "creative pause",
    "creative archive",
]


@pytest.mark.parametrize("index", range(len(ACTIONS)), ids=ACTIONS)
def test_actions_refuse_a_stale_if_match(world: World, index: int) -> None:
    url, obj, prepare = _actions(world)[index]
    if prepare is not None:
        prepare()
    client = world.client("owner_key")
    stored, audited = snapshot(_fresh(obj)), AuditLog.objects.count()
    count = type(obj)._default_manager.count()

    stale = client.post(url, HTTP_IF_MATCH=STALE)

    assert stale.status_code == 412, stale.content
    assert error_of(stale)["code"] == "precondition_failed"
    assert snapshot(_fresh(obj)) == stored
    assert type(obj)._default_manager.count() == count
    assert AuditLog.objects.count() == audited


@pytest.mark.parametrize("index", range(len(ACTIONS)), ids=ACTIONS)
def test_actions_accept_the_current_etag_and_answer_with_one(world: World, index: int) -> None:
    url, obj, prepare = _actions(world)[index]
    if prepare is not None:
        prepare()
    client = world.client("owner_key")
    kind = url.split("/")[3]
    etag = client.get(f"/api/v1/{kind}/{obj.pk}/")["ETag"]

    response = client.post(url, HTTP_IF_MATCH=etag)

    assert response.status_code in (200, 201), response.content
    assert response.has_header("ETag")


@pytest.mark.parametrize("kind", ["members", "api-keys"])
def test_deletes_refuse_a_stale_if_match(world: World, kind: str) -> None:
    obj = world.mine.member if kind == "members" else world.mine.api_key
    stored = snapshot(_fresh(obj))
    response = world.client("owner_key").delete(f"/api/v1/{kind}/{obj.pk}/", HTTP_IF_MATCH=STALE)
    assert response.status_code == 412
    assert snapshot(_fresh(obj)) == stored


def test_the_etag_follows_stored_state_not_derived_values(world: World, settings: Any) -> None:
    """A campaign's delivery state changes with the clock; its ETag must not (the client's copy is
    still the stored version)."""
    import time_machine

    client = world.client("owner_key")
    url = f"/api/v1/campaigns/{world.mine.campaign.pk}/"
    now = client.get(url)
    with time_machine.travel("2099-01-01T00:00:00Z"):
        later = client.get(url)
    assert now["ETag"] == later["ETag"]
