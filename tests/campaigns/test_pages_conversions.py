"""Conversion event pages: list, create, edit, the postback URL and pixel, test events and the recent
conversions; tried by an owner (admin), a manager, an analyst and an outsider."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, Role
from campaigns.models import Conversion, ConversionEvent
from delivery.conversions import receive
from tests.conftest import client_for
from tests.factories import ConversionEventFactory, CreativeFactory, MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

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


def test_event_page_shows_postback_and_pixel_with_the_event_token(tenants, event):
    response = client_for(tenants.owner).get(url("conversion_edit", tenants.advertiser, pk=event.pk))

    assert response.status_code == 200
    html = response.content.decode()
    token = event.token
    assert (
        f"http://testserver/t/conversions?token={token}&amp;event_id={{event_id}}&amp;click_id={{click_id}}"
        "&amp;value={value}" in html
    )
    assert f"http://testserver/t/px/{token}?event_id={{event_id}}&amp;click_id={{click_id}}" in html
    assert "Copy URL" in html
    assert "Copy snippet" in html
    for parameter in ("token", "event_id", "click_id", "value", "time", "currency", "user_key", "awclid"):
        assert f"<code>{parameter}</code>" in html
    assert "Send test event" in html


def test_event_tokens_are_random_unique_and_not_the_id(event):
    assert len(event.token) >= 32
    assert event.token == ConversionEvent.objects.get(pk=event.pk).token
    assert str(event.pk) != event.token
    other = ConversionEventFactory(advertiser=event.advertiser)
    assert other.token != event.token


def test_analyst_sees_the_event_read_only(tenants, event):
    response = client_for(tenants.analyst).get(url("conversion_edit", tenants.advertiser, pk=event.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Save changes" not in html
    assert "Send test event" not in html
    assert "/t/conversions?" in html
    assert "Recent conversions" in html


def test_another_accounts_event_is_404_and_unchanged(tenants):
    theirs = ConversionEventFactory(advertiser=tenants.other_advertiser, name="Theirs")
    client = client_for(tenants.owner)

    assert client.get(url("conversion_edit", tenants.advertiser, pk=theirs.pk)).status_code == 404
    response = client.post(
        url("conversion_edit", tenants.advertiser, pk=theirs.pk), valid_data(name="Mine now")
    )
    assert response.status_code == 404
    assert client.post(url("conversion_test", tenants.advertiser, pk=theirs.pk)).status_code == 404
    recent = {"HTTP_HX_TARGET": "recent-conversions", **HTMX}
    assert client.get(url("conversion_edit", tenants.advertiser, pk=theirs.pk), **recent).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert not AuditLog.objects.exists()
    assert not Conversion.objects.exists()


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


# Test events and recent conversions -----------------------------------------------------------------


def test_send_test_event_stores_a_test_conversion_and_lists_it(tenants, event):
    client = client_for(tenants.owner)

    response = client.post(url("conversion_test", tenants.advertiser, pk=event.pk))

    assert response.status_code == 302
    conversion = Conversion.objects.get()
    assert conversion.conversion_event == event
    assert (conversion.test, conversion.source, conversion.attribution) == (True, "test", "none")
    assert conversion.event_id.startswith("test-")
    assert conversion.campaign is None
    assert not Conversion.objects.counted().exists()
    entry = AuditLog.objects.get(action="test_event")
    assert entry.object_id == str(event.pk)
    assert entry.actor_user == tenants.owner
    assert entry.after["event_id"] == conversion.event_id
    assert entry.after["conversion_id"] == conversion.pk
    assert entry.after["currency"] == "USD"
    html = client.get(url("conversion_edit", tenants.advertiser, pk=event.pk)).content.decode()
    assert conversion.event_id in html
    assert "Not counted (test)" in html
    assert "No conversions yet" not in html


def test_a_test_event_counts_the_default_value(tenants):
    event = ConversionEventFactory(advertiser=tenants.advertiser, default_value_micros=12_500_000)

    client_for(tenants.owner).post(url("conversion_test", tenants.advertiser, pk=event.pk))

    assert Conversion.objects.get().value_micros == 12_500_000
    html = (
        client_for(tenants.owner)
        .get(url("conversion_edit", tenants.advertiser, pk=event.pk))
        .content.decode()
    )
    assert "$12.50" in html


def test_send_test_event_with_htmx_returns_the_panel(tenants, event):
    response = client_for(tenants.owner).post(url("conversion_test", tenants.advertiser, pk=event.pk), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card panel" id="recent-conversions"')
    assert "Test event sent" in html
    assert Conversion.objects.get().event_id in html


def test_a_test_event_of_an_event_turned_off_is_refused_and_says_why(tenants):
    event = ConversionEventFactory(advertiser=tenants.advertiser, is_active=False)

    response = client_for(tenants.owner).post(url("conversion_test", tenants.advertiser, pk=event.pk), **HTMX)

    assert response.status_code == 200
    assert "The test event was refused: This conversion event is turned off" in response.content.decode()
    assert not Conversion.objects.exists()
    assert not AuditLog.objects.filter(action="test_event").exists()


def test_the_panel_refreshes_itself_and_shows_a_postback_that_arrived(tenants, event):
    campaign = CreativeFactory(ad_group__campaign__advertiser=tenants.advertiser).ad_group.campaign
    client = client_for(tenants.owner)
    page = client.get(url("conversion_edit", tenants.advertiser, pk=event.pk)).content.decode()
    assert 'hx-trigger="every 5s"' in page
    assert "No conversions yet" in page

    receive(
        event=event,
        event_id="order-1001",
        occurred_at=None,
        value="59.90",
        currency="USD",
        click_id=None,
        user_key=None,
        source="postback",
    )
    response = client.get(
        url("conversion_edit", tenants.advertiser, pk=event.pk), HTTP_HX_TARGET="recent-conversions", **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card panel" id="recent-conversions"')
    assert "order-1001" in html
    assert "$59.90" in html
    assert "Postback" in html
    assert "Not attributed" in html
    assert campaign.name not in html


def test_an_attributed_conversion_shows_its_campaign(tenants, event):
    creative = CreativeFactory(ad_group__campaign__advertiser=tenants.advertiser)
    Conversion.objects.create(
        advertiser=tenants.advertiser,
        conversion_event=event,
        event_id="order-7",
        occurred_at=event.created_at,
        currency="USD",
        source="postback",
        attribution="click",
        attributed_event_id="0190c6a2-7c3e-7000-8000-000000000001",
        campaign=creative.ad_group.campaign,
        ad_group_id=creative.ad_group_id,
        creative_id=creative.pk,
        touch_at=event.created_at,
    )

    html = (
        client_for(tenants.analyst)
        .get(url("conversion_edit", tenants.advertiser, pk=event.pk))
        .content.decode()
    )

    assert "order-7" in html
    assert creative.ad_group.campaign.name in html


def test_recent_conversions_are_this_events_only_and_at_most_20(
    tenants, event, django_assert_max_num_queries
):
    other = ConversionEventFactory(advertiser=tenants.advertiser, name="Sign-up")
    theirs = ConversionEventFactory(advertiser=tenants.other_advertiser)
    for n in range(25):
        for each in (event, other, theirs):
            receive(
                event=each,
                event_id=f"{each.pk}-order-{n}",
                occurred_at=None,
                value=None,
                currency=None,
                click_id=None,
                user_key=None,
                source="postback",
            )
    client = client_for(tenants.owner)

    with django_assert_max_num_queries(12):
        html = client.get(url("conversion_edit", tenants.advertiser, pk=event.pk)).content.decode()

    assert html.count(f"{event.pk}-order-") == 20
    assert f"{event.pk}-order-24" in html
    assert f"{event.pk}-order-4<" not in html
    assert f"{other.pk}-order-" not in html
    assert f"{theirs.pk}-order-" not in html


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
    assert not Conversion.objects.exists()


def test_analyst_sees_recent_conversions_without_the_button(tenants, event):
    client_for(tenants.owner).post(url("conversion_test", tenants.advertiser, pk=event.pk))
    client = client_for(tenants.analyst)

    for extra in ({}, {"HTTP_HX_TARGET": "recent-conversions", **HTMX}):
        html = client.get(url("conversion_edit", tenants.advertiser, pk=event.pk), **extra).content.decode()
        assert Conversion.objects.get().event_id in html
        assert "Send test event" not in html


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
