"""Account settings pages: members and API keys, for admins only, every change audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Advertiser, ApiKey, AuditLog, Membership, Role
from tests.conftest import client_for
from tests.factories import AdvertiserFactory, MembershipFactory, UserFactory, issue_api_key

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, advertiser: Advertiser, **kwargs) -> str:
    return reverse(name, kwargs={"advertiser_id": advertiser.pk, **kwargs})


@pytest.fixture
def manager(tenants):
    return MembershipFactory(
        advertiser=tenants.advertiser, role=Role.MANAGER, user__email="manager@acme.test"
    ).user


@pytest.fixture
def newcomer(db):
    return UserFactory(email="newcomer@acme.test")


def membership(user, advertiser) -> Membership:
    return Membership.objects.get(user=user, advertiser=advertiser)


# Who may see the page ------------------------------------------------------------------------------


def test_owner_sees_members_and_keys(tenants):
    issue_api_key(advertiser=tenants.advertiser, name="Nightly sync")
    issue_api_key(advertiser=tenants.other_advertiser, name="Globex key")

    response = client_for(tenants.owner).get(url("account_settings", tenants.advertiser))

    assert response.status_code == 200
    html = response.content.decode()
    assert "owner@acme.test" in html
    assert "analyst@acme.test" in html
    assert "outsider@globex.test" not in html
    assert "Nightly sync" in html
    assert "Globex key" not in html


def test_agency_members_are_shown_read_only(tenants):
    MembershipFactory(
        advertiser=None, agency=tenants.advertiser.agency, role=Role.ADMIN, user__email="ops@agency.test"
    )

    html = client_for(tenants.owner).get(url("account_settings", tenants.advertiser)).content.decode()

    assert "ops@agency.test" in html
    assert "via agency" in html


def test_agency_admin_can_open_the_settings(tenants):
    agency_admin = MembershipFactory(advertiser=None, agency=tenants.advertiser.agency, role=Role.ADMIN).user

    assert client_for(agency_admin).get(url("account_settings", tenants.advertiser)).status_code == 200


@pytest.mark.parametrize("who", ["manager", "analyst"])
def test_non_admins_get_403(tenants, manager, who):
    user = manager if who == "manager" else tenants.analyst

    assert client_for(user).get(url("account_settings", tenants.advertiser)).status_code == 403


def test_outsider_gets_404(tenants):
    assert client_for(tenants.outsider).get(url("account_settings", tenants.advertiser)).status_code == 404


def test_logged_out_is_sent_to_login(tenants):
    assert Client().get(url("account_settings", tenants.advertiser)).status_code == 302


def test_query_count_is_constant(tenants, django_assert_max_num_queries):
    client = client_for(tenants.owner)
    with django_assert_max_num_queries(20) as few:
        client.get(url("account_settings", tenants.advertiser))
    for _ in range(5):
        MembershipFactory(advertiser=tenants.advertiser)
        issue_api_key(advertiser=tenants.advertiser, created_by=tenants.owner)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url("account_settings", tenants.advertiser))


# Members -------------------------------------------------------------------------------------------


def test_add_a_member_by_email(tenants, newcomer):
    client = client_for(tenants.owner)

    response = client.post(
        url("settings_member_add", tenants.advertiser), {"email": " NewComer@acme.test ", "role": "manager"}
    )

    assert response.status_code == 302
    added = membership(newcomer, tenants.advertiser)
    assert added.role == Role.MANAGER
    entry = AuditLog.objects.get(action="create", object_type="accounts.Membership")
    assert entry.actor_user == tenants.owner
    assert entry.after["role"] == "manager"
    assert entry.advertiser == tenants.advertiser
    assert "newcomer@acme.test can now use this account" in client.get(response["Location"]).content.decode()


def test_add_an_unknown_email_keeps_it_and_says_why(tenants):
    response = client_for(tenants.owner).post(
        url("settings_member_add", tenants.advertiser), {"email": "nobody@acme.test", "role": "analyst"}
    )

    assert response.status_code == 200  # the form again, with its errors
    html = response.content.decode()
    assert "need one first" in html
    assert 'value="nobody@acme.test"' in html
    assert not AuditLog.objects.exists()


def test_add_an_existing_member_is_refused(tenants):
    response = client_for(tenants.owner).post(
        url("settings_member_add", tenants.advertiser), {"email": "analyst@acme.test", "role": "admin"}
    )

    assert response.status_code == 200  # the form again, with its errors
    assert "already a member" in response.content.decode()
    assert membership(tenants.analyst, tenants.advertiser).role == Role.ANALYST


def test_add_with_a_made_up_role_is_refused(tenants, newcomer):
    response = client_for(tenants.owner).post(
        url("settings_member_add", tenants.advertiser), {"email": newcomer.email, "role": "owner"}
    )

    assert response.status_code == 200  # the form again, with its errors
    assert not Membership.objects.filter(user=newcomer).exists()


def test_change_a_role_with_htmx_swaps_the_row(tenants):
    analyst = membership(tenants.analyst, tenants.advertiser)

    response = client_for(tenants.owner).post(
        url("settings_member_role", tenants.advertiser, pk=analyst.pk), {"role": "manager"}, **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="member-{analyst.pk}">')
    assert "Saved: manager." in html
    analyst.refresh_from_db()
    assert analyst.role == Role.MANAGER
    entry = AuditLog.objects.get(action="update", object_type="accounts.Membership")
    assert entry.before == {"role": "analyst"}
    assert entry.after == {"role": "manager"}
    assert entry.actor_user == tenants.owner


def test_change_a_role_without_javascript_redirects_with_a_message(tenants):
    analyst = membership(tenants.analyst, tenants.advertiser)
    client = client_for(tenants.owner)

    response = client.post(url("settings_member_role", tenants.advertiser, pk=analyst.pk), {"role": "admin"})

    assert response.status_code == 302
    assert "analyst@acme.test is now admin." in client.get(response["Location"]).content.decode()


def test_the_last_admin_cannot_be_demoted(tenants):
    tenants.advertiser.agency = None  # a direct account: its own admins are all it has
    tenants.advertiser.save()
    owner = membership(tenants.owner, tenants.advertiser)

    response = client_for(tenants.owner).post(
        url("settings_member_role", tenants.advertiser, pk=owner.pk), {"role": "analyst"}, **HTMX
    )

    assert response.status_code == 200
    assert "last admin" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN
    assert not AuditLog.objects.exists()


def test_the_last_admin_cannot_be_removed(tenants):
    tenants.advertiser.agency = None
    tenants.advertiser.save()
    owner = membership(tenants.owner, tenants.advertiser)
    client = client_for(tenants.owner)

    response = client.post(url("settings_member_remove", tenants.advertiser, pk=owner.pk))

    assert response.status_code == 302
    assert Membership.objects.filter(pk=owner.pk).exists()
    assert "last admin" in client.get(response["Location"]).content.decode()


def test_remove_asks_for_confirmation_then_removes(tenants):
    analyst = membership(tenants.analyst, tenants.advertiser)
    client = client_for(tenants.owner)

    page = client.get(url("settings_member_remove", tenants.advertiser, pk=analyst.pk))
    assert page.status_code == 200
    assert "Remove analyst@acme.test?" in page.content.decode()
    assert Membership.objects.filter(pk=analyst.pk).exists()

    response = client.post(url("settings_member_remove", tenants.advertiser, pk=analyst.pk))

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=analyst.pk).exists()
    entry = AuditLog.objects.get(action="delete", object_type="accounts.Membership")
    assert entry.before["role"] == "analyst"
    assert entry.actor_user == tenants.owner
    assert client_for(tenants.analyst).get(url("account_history", tenants.advertiser)).status_code == 404


def test_removing_yourself_sends_you_home(tenants):
    second_admin = MembershipFactory(advertiser=tenants.advertiser, role=Role.ADMIN).user
    mine = membership(second_admin, tenants.advertiser)

    response = client_for(second_admin).post(url("settings_member_remove", tenants.advertiser, pk=mine.pk))

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


@pytest.mark.parametrize("who", ["manager", "analyst"])
def test_non_admins_cannot_change_members(tenants, manager, newcomer, who):
    user = manager if who == "manager" else tenants.analyst
    client = client_for(user)
    owner = membership(tenants.owner, tenants.advertiser)

    assert (
        client.post(
            url("settings_member_add", tenants.advertiser), {"email": newcomer.email, "role": "admin"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            url("settings_member_role", tenants.advertiser, pk=owner.pk), {"role": "analyst"}, **HTMX
        ).status_code
        == 403
    )
    assert client.post(url("settings_member_remove", tenants.advertiser, pk=owner.pk)).status_code == 403
    assert client.get(url("settings_member_remove", tenants.advertiser, pk=owner.pk)).status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN
    assert not Membership.objects.filter(user=newcomer).exists()
    assert not AuditLog.objects.exists()


def test_outsider_cannot_change_members(tenants, newcomer):
    client = client_for(tenants.outsider)
    analyst = membership(tenants.analyst, tenants.advertiser)

    assert (
        client.post(
            url("settings_member_add", tenants.advertiser), {"email": newcomer.email, "role": "admin"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            url("settings_member_role", tenants.advertiser, pk=analyst.pk), {"role": "admin"}
        ).status_code
        == 404
    )
    assert client.post(url("settings_member_remove", tenants.advertiser, pk=analyst.pk)).status_code == 404
    assert not AuditLog.objects.exists()


def test_another_accounts_member_id_is_refused(tenants):
    theirs = membership(tenants.outsider, tenants.other_advertiser)
    client = client_for(tenants.owner)

    assert (
        client.post(
            url("settings_member_role", tenants.advertiser, pk=theirs.pk), {"role": "analyst"}
        ).status_code
        == 404
    )
    assert client.post(url("settings_member_remove", tenants.advertiser, pk=theirs.pk)).status_code == 404
    assert client.get(url("settings_member_remove", tenants.advertiser, pk=theirs.pk)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == Role.ADMIN
    assert not AuditLog.objects.exists()


def test_an_agency_membership_cannot_be_changed_from_the_account(tenants):
    agency_member = MembershipFactory(advertiser=None, agency=tenants.advertiser.agency, role=Role.ANALYST)

    response = client_for(tenants.owner).post(
        url("settings_member_role", tenants.advertiser, pk=agency_member.pk), {"role": "admin"}
    )

    assert response.status_code == 404
    agency_member.refresh_from_db()
    assert agency_member.role == Role.ANALYST


def test_htmx_role_change_without_csrf_token_is_refused(tenants):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenants.owner)
    analyst = membership(tenants.analyst, tenants.advertiser)

    response = client.post(
        url("settings_member_role", tenants.advertiser, pk=analyst.pk), {"role": "admin"}, **HTMX
    )

    assert response.status_code == 403
    analyst.refresh_from_db()
    assert analyst.role == Role.ANALYST


def test_nothing_can_be_granted_on_a_suspended_account(tenants, newcomer):
    tenants.advertiser.status = Advertiser.Status.SUSPENDED
    tenants.advertiser.save()

    response = client_for(tenants.owner).post(
        url("settings_member_add", tenants.advertiser), {"email": newcomer.email, "role": "admin"}
    )

    assert response.status_code == 403
    assert not Membership.objects.filter(user=newcomer).exists()


# API keys ------------------------------------------------------------------------------------------


def test_create_a_key_shows_the_token_once(tenants):
    client = client_for(tenants.owner)

    response = client.post(
        url("settings_key_create", tenants.advertiser), {"name": "Reporting script", "role": "analyst"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(advertiser=tenants.advertiser)
    assert key.role == Role.ANALYST
    assert key.created_by == tenants.owner
    html = response.content.decode()
    token = html.split('id="new-token" class="snippet__code" value="')[1].split('"')[0]
    assert token.startswith(f"adw_{key.prefix}_")
    assert ApiKey.authenticate(token) == key
    assert "shown only this once" in html

    reloaded = client.get(url("account_settings", tenants.advertiser)).content.decode()
    assert token not in reloaded
    assert token.split("_", 2)[2] not in reloaded
    assert "Reporting script" in reloaded

    entry = AuditLog.objects.get(action="create", object_type="accounts.ApiKey")
    assert entry.actor_user == tenants.owner
    assert "secret_hash" not in entry.after
    assert token.split("_", 2)[2] not in str(entry.after)


def test_create_a_key_with_htmx_returns_the_keys_section(tenants):
    response = client_for(tenants.owner).post(
        url("settings_key_create", tenants.advertiser),
        {"name": "Reporting script", "role": "manager"},
        **HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card panel" id="api-keys"')
    assert 'id="new-token"' in html
    assert ApiKey.objects.get().role == Role.MANAGER


def test_create_a_key_without_a_name_says_so(tenants):
    for extra in ({}, HTMX):
        response = client_for(tenants.owner).post(
            url("settings_key_create", tenants.advertiser), {"name": "", "role": "admin"}, **extra
        )
        assert "This field is required." in response.content.decode()
        assert 'id="new-token"' not in response.content.decode()
    assert not ApiKey.objects.exists()


def test_revoke_asks_for_confirmation_then_revokes(tenants):
    key, token = issue_api_key(advertiser=tenants.advertiser, name="Old sync")
    client = client_for(tenants.owner)

    page = client.get(url("settings_key_revoke", tenants.advertiser, pk=key.pk))
    assert "Revoke the API key “Old sync”?" in page.content.decode()
    key.refresh_from_db()
    assert key.is_active

    response = client.post(url("settings_key_revoke", tenants.advertiser, pk=key.pk))

    assert response.status_code == 302
    key.refresh_from_db()
    assert not key.is_active
    assert ApiKey.authenticate(token) is None
    entry = AuditLog.objects.get(action="revoke")
    assert entry.before == {"revoked_at": None}
    assert entry.actor_user == tenants.owner
    assert "Old sync" in client.get(response["Location"]).content.decode()


def test_revoking_twice_writes_one_entry(tenants):
    key, _ = issue_api_key(advertiser=tenants.advertiser)
    client = client_for(tenants.owner)

    client.post(url("settings_key_revoke", tenants.advertiser, pk=key.pk))
    client.post(url("settings_key_revoke", tenants.advertiser, pk=key.pk))

    assert AuditLog.objects.filter(action="revoke").count() == 1


@pytest.mark.parametrize("who", ["manager", "analyst", "outsider"])
def test_others_cannot_create_or_revoke_keys(tenants, manager, who):
    user = {"manager": manager, "analyst": tenants.analyst, "outsider": tenants.outsider}[who]
    expected = 404 if who == "outsider" else 403
    key, _ = issue_api_key(advertiser=tenants.advertiser)
    client = client_for(user)

    assert (
        client.post(
            url("settings_key_create", tenants.advertiser), {"name": "Mine", "role": "admin"}
        ).status_code
        == expected
    )
    assert client.post(url("settings_key_revoke", tenants.advertiser, pk=key.pk)).status_code == expected
    assert client.get(url("settings_key_revoke", tenants.advertiser, pk=key.pk)).status_code == expected
    key.refresh_from_db()
    assert key.is_active
    assert ApiKey.objects.count() == 1
    assert not AuditLog.objects.exists()


def test_another_accounts_key_id_is_refused(tenants):
    theirs, _ = issue_api_key(advertiser=tenants.other_advertiser)
    agency_key, _ = issue_api_key(agency=tenants.advertiser.agency)
    client = client_for(tenants.owner)

    for key in (theirs, agency_key):
        assert client.post(url("settings_key_revoke", tenants.advertiser, pk=key.pk)).status_code == 404
        key.refresh_from_db()
        assert key.is_active
    assert not AuditLog.objects.exists()


def test_a_key_is_made_for_this_account_whatever_the_form_says(tenants):
    other = AdvertiserFactory()
    client_for(tenants.owner).post(
        url("settings_key_create", tenants.advertiser),
        {"name": "Sneaky", "role": "admin", "advertiser": other.pk, "agency": tenants.advertiser.agency_id},
    )

    key = ApiKey.objects.get()
    assert key.advertiser == tenants.advertiser
    assert key.agency is None


def test_htmx_key_creation_without_csrf_token_is_refused(tenants):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenants.owner)

    response = client.post(
        url("settings_key_create", tenants.advertiser), {"name": "X", "role": "admin"}, **HTMX
    )

    assert response.status_code == 403
    assert not ApiKey.objects.exists()
