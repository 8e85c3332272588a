"""The foundation's pages: login and logout, the home page, the account switcher, the error pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import permission_denied

from accounts.current import SESSION_KEY
from accounts.models import Role
from campaigns.models import Campaign
from tests.conftest import client_for
from tests.factories import (
    PASSWORD,
    AdvertiserFactory,
    CampaignFactory,
    MembershipFactory,
    servable_campaign,
)

pytestmark = pytest.mark.django_db


def delivering_campaign(advertiser, **kwargs) -> Campaign:
    """An active campaign with an active ad group and an approved creative: it delivers."""
    return servable_campaign(advertiser=advertiser, status=Campaign.Status.ACTIVE, **kwargs)


# Login and logout -----------------------------------------------------------------------------------


def test_login_page_shows_the_form_and_keeps_next(client: Client):
    response = client.get(reverse("login"), {"next": "/somewhere/"})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'type="email"' in html
    assert 'type="password"' in html
    assert '<input type="hidden" name="next" value="/somewhere/">' in html


def test_login_with_email_in_any_case(client: Client, tenants):
    response = client.post(reverse("login"), {"username": "  Owner@ACME.test ", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(tenants.owner.pk)


def test_login_redirects_to_next(client: Client, tenants):
    response = client.post(
        reverse("login"), {"username": "owner@acme.test", "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_login_refuses_an_external_next(client: Client, tenants):
    response = client.post(
        reverse("login"), {"username": "owner@acme.test", "password": PASSWORD, "next": "https://evil.test/"}
    )

    assert response["Location"] == reverse("home")


def test_wrong_password_shows_an_error(client: Client, tenants):
    response = client.post(
        reverse("login"), {"username": "owner@acme.test", "password": "wrong", "next": "/somewhere/"}
    )

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "do not match an account" in html
    assert 'value="owner@acme.test"' in html  # the email is kept, the password is not
    assert '<input type="hidden" name="next" value="/somewhere/">' in html


def test_inactive_user_cannot_log_in(client: Client, tenants):
    tenants.owner.is_active = False
    tenants.owner.save()

    response = client.post(reverse("login"), {"username": "owner@acme.test", "password": PASSWORD})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logged_in_user_is_sent_from_login_to_home(tenants):
    response = client_for(tenants.owner).get(reverse("login"))

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_logout_is_a_post(tenants):
    client = client_for(tenants.owner)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("home")).status_code == 302


# Home -------------------------------------------------------------------------------------------------


def test_home_requires_login(client: Client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


@pytest.mark.parametrize("who", ["owner", "analyst"])
def test_members_see_their_advertiser_and_its_campaigns(tenants, who):
    CampaignFactory.create(advertiser=tenants.advertiser, name="Spring sale", budget_micros=25_500_000)
    CampaignFactory.create(advertiser=tenants.other_advertiser, name="Globex launch")

    response = client_for(getattr(tenants, who)).get(reverse("home"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme Shoes" in html
    assert "Spring sale" in html
    assert "$25.50" in html
    assert "Globex" not in html


def test_outsider_sees_only_their_own_advertiser(tenants):
    CampaignFactory.create(advertiser=tenants.advertiser, name="Spring sale")
    CampaignFactory.create(advertiser=tenants.other_advertiser, name="Globex launch")

    response = client_for(tenants.outsider).get(reverse("home"))

    html = response.content.decode()
    assert "Globex launch" in html
    assert "Acme Shoes" not in html
    assert "Spring sale" not in html


def test_home_shows_account_facts_and_campaign_columns(tenants):
    tenants.advertiser.agency = None
    tenants.advertiser.currency = "EUR"
    tenants.advertiser.time_zone = "Europe/Paris"
    tenants.advertiser.save()
    starts = timezone.now() - timedelta(days=2)
    delivering_campaign(
        tenants.advertiser, name="Always on", objective="traffic", budget_micros=12_000_000, starts_at=starts
    )
    CampaignFactory.create(
        advertiser=tenants.advertiser,
        name="Black Friday",
        budget_type=Campaign.BudgetType.LIFETIME,
        budget_micros=1_000_000_000,
        starts_at=starts,
        ends_at=starts + timedelta(days=30),
    )
    CampaignFactory.create(advertiser=tenants.advertiser, name="Old one", status=Campaign.Status.ARCHIVED)

    html = client_for(tenants.owner).get(reverse("home")).content.decode()

    assert "Direct" in html
    assert "EUR" in html
    assert "Europe/Paris" in html
    assert "Traffic" in html
    assert "€12.00" in html
    assert "per day" in html
    assert "€1,000.00" in html
    assert "lifetime" in html
    assert "Delivering" in html
    assert "Draft" in html
    assert "Not published yet." in html  # the delivery reason
    assert "No end date" in html
    assert "Old one" not in html  # archived campaigns are not listed


def test_home_shows_the_agency_name(tenants):
    html = client_for(tenants.owner).get(reverse("home")).content.decode()

    assert tenants.advertiser.agency.name in html


def test_home_empty_states(tenants, django_user_model):
    html = client_for(tenants.owner).get(reverse("home")).content.decode()
    assert "No campaigns yet" in html

    nobody = django_user_model.objects.create_user("nobody@example.com", PASSWORD)
    html = client_for(nobody).get(reverse("home")).content.decode()
    assert "You have no ad accounts yet" in html


def test_home_lists_the_current_account_first(tenants):
    second = AdvertiserFactory.create(name="Zenith Bikes")
    MembershipFactory.create(user=tenants.owner, advertiser=second, role=Role.ANALYST)
    client = client_for(tenants.owner)

    html = client.get(reverse("home")).content.decode()
    assert html.index("Acme Shoes") < html.index("Zenith Bikes")

    client.post(reverse("switch_advertiser"), {"advertiser": second.pk})
    html = client.get(reverse("home")).content.decode()
    main = html[html.index('id="main"') :]
    assert main.index("Zenith Bikes") < main.index("Acme Shoes")
    assert f'<option value="{second.pk}" selected>' in html.replace("\n", "").replace("  ", "")


def test_home_queries_do_not_grow_with_campaigns(tenants, django_assert_max_num_queries):
    client = client_for(tenants.owner)
    delivering_campaign(tenants.advertiser)
    with CaptureQueriesContext(connection) as one_campaign:
        assert client.get(reverse("home")).status_code == 200

    for _ in range(9):
        delivering_campaign(tenants.advertiser)
    second = AdvertiserFactory.create()
    MembershipFactory.create(user=tenants.owner, advertiser=second)
    for _ in range(3):
        delivering_campaign(second)

    with django_assert_max_num_queries(len(one_campaign)):
        response = client.get(reverse("home"))
    assert response.content.decode().count("Delivering") == 13


# The account switcher --------------------------------------------------------------------------------


def test_switcher_is_in_the_layout_for_users_with_several_accounts(tenants):
    second = AdvertiserFactory.create(name="Zenith Bikes")
    MembershipFactory.create(user=tenants.owner, advertiser=second)

    html = client_for(tenants.owner).get(reverse("home")).content.decode()

    assert f'action="{reverse("switch_advertiser")}"' in html
    assert 'name="advertiser"' in html
    assert '<input type="hidden" name="next" value="/">' in html
    assert "owner@acme.test" in html


def test_switch_to_own_advertiser_sets_the_session_and_goes_to_next(tenants):
    second = AdvertiserFactory.create(name="Zenith Bikes")
    MembershipFactory.create(user=tenants.owner, advertiser=second)
    client = client_for(tenants.owner)

    response = client.post(reverse("switch_advertiser"), {"advertiser": second.pk, "next": "/?page=2"})

    assert response.status_code == 302
    assert response["Location"] == "/?page=2"
    assert client.session[SESSION_KEY] == second.pk


@pytest.mark.parametrize(
    "next_url", ["https://evil.test/", "//evil.test/", "/\\evil.test/", "", "logout", "javascript:alert(1)"]
)
def test_switch_refuses_an_external_or_odd_next(tenants, next_url):
    client = client_for(tenants.owner)

    response = client.post(
        reverse("switch_advertiser"), {"advertiser": tenants.advertiser.pk, "next": next_url}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session[SESSION_KEY] == tenants.advertiser.pk


@pytest.mark.parametrize("who", ["owner", "analyst"])
def test_switch_to_a_foreign_advertiser_is_404(tenants, who):
    client = client_for(getattr(tenants, who))

    response = client.post(reverse("switch_advertiser"), {"advertiser": tenants.other_advertiser.pk})

    assert response.status_code == 404
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize("value", ["", "abc", "999999999"])
def test_switch_to_nothing_is_404(tenants, value):
    response = client_for(tenants.owner).post(reverse("switch_advertiser"), {"advertiser": value})

    assert response.status_code == 404


def test_switch_requires_post_and_login(client: Client, tenants):
    assert client_for(tenants.owner).get(reverse("switch_advertiser")).status_code == 405
    response = client.post(reverse("switch_advertiser"), {"advertiser": tenants.advertiser.pk})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_forgotten_advertiser_in_the_session_falls_back_to_a_visible_one(tenants):
    client = client_for(tenants.owner)
    session = client.session
    session[SESSION_KEY] = tenants.other_advertiser.pk
    session.save()

    html = client.get(reverse("home")).content.decode()

    assert "Current account" in html
    assert "Globex" not in html


# Layout and error pages ------------------------------------------------------------------------------


def test_layout_loads_htmx_locally_and_sends_the_csrf_token(tenants):
    html = client_for(tenants.owner).get(reverse("home")).content.decode()

    assert "django_htmx/htmx-2.min.js" in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "http://" not in html
    assert "https://" not in html
    assert 'href="/admin/"' not in html  # staff only


def test_staff_see_the_admin_link(tenants):
    tenants.owner.is_staff = True
    tenants.owner.save()

    html = client_for(tenants.owner).get(reverse("home")).content.decode()

    assert 'href="/admin/"' in html


def test_404_page_uses_the_layout(tenants):
    response = client_for(tenants.owner).get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "owner@acme.test" in html  # the top bar, as on every page


def test_403_page_shows_the_reason(tenants):
    request = RequestFactory().get("/")
    request.user = tenants.owner
    request.session = SessionStore()

    response = permission_denied(request, PermissionDenied("Your role on this account is read only."))

    assert response.status_code == 403
    assert "Your role on this account is read only." in response.content.decode()


def test_500_page_renders_without_context_or_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        html = render_to_string("500.html")

    assert "Something went wrong" in html
