"""Conversion event pages: list, create, edit, the postback URL and pixel, and test events; tried by
an owner (admin), a manager, an analyst and an outsider."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, Role
from campaigns.forms.conversion import event_key
from campaigns.models import ConversionEvent
from tests.conftest import client_for
from tests.factories import ConversionEventFactory, MembershipFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def valid_data(**overrides) -> dict:
    data = {
        "name": "Checkout completed",
        "category": "purchase",
        "click_window_days": "30",
        "view_window_days": "1",
        "counting": "every",
        "default_value_micros": "12.50",
        "is_active": "on",
    }
    return {**data, **overrides}


@pytest.fixture
def manager(tenants):
    return MembershipFactory(
        advertiser=tenants.advertiser, role=Role.MANAGER, user__email="manager@acme.test"
    ).user


@pytest.fixture
def event(tenants):
    return ConversionEventFactory(advertiser=tenants.advertiser, name="Purchase")


def url(name: str, advertiser, **kwargs) -> str:
    return reverse(name, kwargs={"advertiser_id": advertiser.pk, **kwargs})


# The list ------------------------------------------------------------------------------------------


def test_list_shows_the_accounts_events_only(tenants, event):
    ConversionEventFactory(advertiser=tenants.other_advertiser, name="Globex signup")

    response = client_for(tenants.owner).get(url("conversion_list", tenants.advertiser))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Purchase" in html
    assert "Globex signup" not in html
    assert "New conversion event" in html


def test_list_empty_state_says_what_to_do(tenants):
    html = client_for(tenants.owner).get(url("conversion_list", tenants.advertiser)).content.decode()

    assert "No conversion events yet" in html
    assert "install its postback URL or pixel" in html


def test_analyst_sees_the_list_without_edit_controls(tenants, event):
    response = client_for(tenants.analyst).get(url("conversion_list", tenants.advertiser))

    assert response.status_code == 200
    assert "Purchase" in response.content.decode()
    assert "New conversion event" not in response.content.decode()


@pytest.mark.parametrize("name", ["conversion_list", "conversion_new"])
def test_outsider_gets_404(tenants, name):
    assert client_for(tenants.outsider).get(url(name, tenants.advertiser)).status_code == 404


def test_logged_out_is_sent_to_login(tenants):
    response = Client().get(url("conversion_list", tenants.advertiser))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_list_query_count_is_constant(tenants, django_assert_max_num_queries):
    client = client_for(tenants.owner)
    ConversionEventFactory(advertiser=tenants.advertiser)
    with django_assert_max_num_queries(12) as few:
        client.get(url("conversion_list", tenants.advertiser))
    ConversionEventFactory.create_batch(10, advertiser=tenants.advertiser)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url("conversion_list", tenants.advertiser))


# Create --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "manager"])
def test_owner_and_manager_create_an_event(tenants, manager, who):
    user = manager if who == "manager" else tenants.owner

    response = client_for(user).post(url("conversion_new", tenants.advertiser), valid_data())

    event = ConversionEvent.objects.get(advertiser=tenants.advertiser, name="Checkout completed")
    assert response.status_code == 302
    assert response["Location"] == url("conversion_edit", tenants.advertiser, pk=event.pk)
    assert event.default_value_micros == 12_500_000
    assert event.click_window_days == 30
    assert event.is_active
    entry = AuditLog.objects.get(
        action="create", object_type="campaigns.ConversionEvent", object_id=str(event.pk)
    )
    assert entry.actor_user == user
    assert entry.source == "web"
    assert entry.advertiser == tenants.advertiser


def test_a_wrong_value_keeps_what_was_typed_and_says_what_is_wrong(tenants):
    data = valid_data(click_window_days="120", default_value_micros="12.505")

    response = client_for(tenants.owner).post(url("conversion_new", tenants.advertiser), data)

    assert response.status_code == 200  # the form again, with its errors
    html = response.content.decode()
    assert "Ensure this value is less than or equal to 90." in html
    assert "USD amounts have at most 2 decimal places." in html
    assert 'value="Checkout completed"' in html
    assert 'value="12.505"' in html
    assert not ConversionEvent.objects.exists()


def test_a_duplicate_name_is_refused_next_to_the_field(tenants, event):
    response = client_for(tenants.owner).post(
        url("conversion_new", tenants.advertiser), valid_data(name="purchase")
    )

    assert response.status_code == 200  # the form again, with its errors
    assert "already has an event with this name" in response.content.decode()
    assert ConversionEvent.objects.count() == 1


def test_analyst_cannot_create(tenants):
    client = client_for(tenants.analyst)

    assert client.post(url("conversion_new", tenants.advertiser), valid_data()).status_code == 403
    assert not ConversionEvent.objects.exists()
    assert not AuditLog.objects.exists()


def test_outsider_cannot_create_in_another_account(tenants):
    response = client_for(tenants.outsider).post(url("conversion_new", tenants.advertiser), valid_data())

    assert response.status_code == 404
    assert not ConversionEvent.objects.exists()


# The event's page ----------------------------------------------------------------------------------


def test_event_page_shows_postback_and_pixel_with_the_event_key(tenants, event):
    response = client_for(tenants.owner).get(url("conversion_edit", tenants.advertiser, pk=event.pk))

    assert response.status_code == 200
    html = response.content.decode()
    key = event_key(event)
    assert (
        f"http://testserver/t/v1/conversions?event={key}&amp;click_id={{click_id}}&amp;event_id={{event_id}}&amp;value={{value}}"
        in html
    )
    assert f"http://testserver/t/v1/pixel.gif?event={key}&amp;click_id={{click_id}}" in html
    assert "Copy URL" in html
    assert "Copy snippet" in html
    for parameter in ("event_id", "click_id", "value", "currency"):
        assert f"<code>{parameter}</code>" in html
    assert "Send test event" in html


def test_event_key_is_stable_and_not_the_id(event):
    assert event_key(event) == event_key(ConversionEvent.objects.get(pk=event.pk))
    assert str(event.pk) not in event_key(event)
    other = ConversionEventFactory(advertiser=event.advertiser)
    assert event_key(other) != event_key(event)


def test_analyst_sees_the_event_read_only(tenants, event):
    response = client_for(tenants.analyst).get(url("conversion_edit", tenants.advertiser, pk=event.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Save changes" not in html
    assert "Send test event" not in html
    assert "/t/v1/conversions?" in html


def test_another_accounts_event_is_404_and_unchanged(tenants):
    theirs = ConversionEventFactory(advertiser=tenants.other_advertiser, name="Theirs")
    client = client_for(tenants.owner)

    assert client.get(url("conversion_edit", tenants.advertiser, pk=theirs.pk)).status_code == 404
    response = client.post(
        url("conversion_edit", tenants.advertiser, pk=theirs.pk), valid_data(name="Mine now")
    )
    assert response.status_code == 404
    assert client.post(url("conversion_test", tenants.advertiser, pk=theirs.pk)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert not AuditLog.objects.exists()


def test_outsider_gets_404_on_the_event(tenants, event):
    client = client_for(tenants.outsider)

    assert client.get(url("conversion_edit", tenants.advertiser, pk=event.pk)).status_code == 404
    assert client.post(url("conversion_test", tenants.advertiser, pk=event.pk)).status_code == 404


@pytest.mark.parametrize("who", ["owner", "manager"])
def test_edit_saves_and_audits_before_and_after(tenants, manager, event, who):
    user = manager if who == "manager" else tenants.owner
    data = valid_data(name="Purchase", click_window_days="14", is_active="")

    response = client_for(user).post(url("conversion_edit", tenants.advertiser, pk=event.pk), data)

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.click_window_days == 14
    assert not event.is_active
    entry = AuditLog.objects.get(action="update", object_id=str(event.pk))
    assert entry.before == {"click_window_days": 7, "is_active": True, "default_value_micros": None}
    assert entry.after == {"click_window_days": 14, "is_active": False, "default_value_micros": 12_500_000}
    assert entry.actor_user == user


def test_edit_errors_keep_the_typed_values(tenants, event):
    data = valid_data(name="Purchase", view_window_days="-1")

    response = client_for(tenants.owner).post(url("conversion_edit", tenants.advertiser, pk=event.pk), data)

    assert response.status_code == 200  # the form again, with its errors
    html = response.content.decode()
    assert 'value="-1"' in html
    assert "greater than or equal to 0" in html
    event.refresh_from_db()
    assert event.view_window_days == 1


def test_analyst_cannot_edit(tenants, event):
    response = client_for(tenants.analyst).post(
        url("conversion_edit", tenants.advertiser, pk=event.pk), valid_data(name="Hacked")
    )

    assert response.status_code == 403
    event.refresh_from_db()
    assert event.name == "Purchase"


# Test events ---------------------------------------------------------------------------------------


def test_send_test_event_records_it_and_lists_it(tenants, event):
    client = client_for(tenants.owner)

    response = client.post(url("conversion_test", tenants.advertiser, pk=event.pk))

    assert response.status_code == 302
    entry = AuditLog.objects.get(action="test_event")
    assert entry.object_id == str(event.pk)
    assert entry.actor_user == tenants.owner
    assert entry.after["event_id"].startswith("test-")
    assert entry.after["currency"] == "USD"
    html = client.get(url("conversion_edit", tenants.advertiser, pk=event.pk)).content.decode()
    assert entry.after["event_id"] in html
    assert "No test events yet" not in html


def test_send_test_event_with_htmx_returns_the_list(tenants, event):
    response = client_for(tenants.owner).post(url("conversion_test", tenants.advertiser, pk=event.pk), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card panel" id="test-events"')
    assert "Test event recorded." in html
    assert AuditLog.objects.get(action="test_event").after["event_id"] in html


def test_manager_can_send_a_test_event(tenants, manager, event):
    assert (
        client_for(manager).post(url("conversion_test", tenants.advertiser, pk=event.pk)).status_code == 302
    )


def test_analyst_cannot_send_a_test_event(tenants, event):
    response = client_for(tenants.analyst).post(
        url("conversion_test", tenants.advertiser, pk=event.pk), **HTMX
    )

    assert response.status_code == 403
    assert not AuditLog.objects.exists()


def test_test_event_is_post_only(tenants, event):
    response = client_for(tenants.owner).get(url("conversion_test", tenants.advertiser, pk=event.pk))

    assert response.status_code == 405


def test_htmx_post_without_csrf_token_is_refused(tenants, event):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenants.owner)

    response = client.post(url("conversion_test", tenants.advertiser, pk=event.pk), **HTMX)

    assert response.status_code == 403
    assert not AuditLog.objects.exists()


def test_htmx_post_with_the_csrf_header_from_the_page_is_accepted(tenants, event):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenants.owner)
    client.get(url("conversion_edit", tenants.advertiser, pk=event.pk))
    token = client.cookies["csrftoken"].value

    response = client.post(
        url("conversion_test", tenants.advertiser, pk=event.pk), HTTP_X_CSRFTOKEN=token, **HTMX
    )

    assert response.status_code == 200
    assert AuditLog.objects.filter(action="test_event").count() == 1
