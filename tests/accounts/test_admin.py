"""The platform admin for users, agencies, advertisers, memberships and API keys."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Advertiser, ApiKey, AuditLog, Membership, Role, User
from tests.admin_helpers import admin_form_data, changelist_queries, messages_of
from tests.conftest import Tenants, client_for
from tests.factories import AdvertiserFactory, AgencyFactory, MembershipFactory, UserFactory, issue_api_key

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"adw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


# Fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def superuser(db: None) -> User:
    return UserFactory.create(email="staff@adwright.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(superuser: User) -> Client:
    return client_for(superuser)


@pytest.fixture
def objects(tenants: Tenants) -> dict[str, Any]:
    key, _ = issue_api_key(advertiser=tenants.advertiser)
    return {
        "user": tenants.owner,
        "agency": tenants.advertiser.agency,
        "advertiser": tenants.advertiser,
        "membership": Membership.objects.get(user=tenants.owner),
        "apikey": key,
    }


# Every page renders, for staff only --------------------------------------------------------------------


@pytest.mark.parametrize("model", ["user", "agency", "advertiser", "membership", "apikey"])
def test_changelist_add_and_change_pages_render(
    staff_client: Client, objects: dict[str, Any], model: str
) -> None:
    obj = objects[model]
    urls = [
        reverse(f"admin:accounts_{model}_changelist"),
        reverse(f"admin:accounts_{model}_changelist") + "?q=acme",
        reverse(f"admin:accounts_{model}_add"),
        reverse(f"admin:accounts_{model}_change", args=[obj.pk]),
    ]
    for url in urls:
        assert staff_client.get(url).status_code == 200, url


def test_user_password_page_renders(staff_client: Client, tenants: Tenants) -> None:
    url = reverse("admin:auth_user_password_change", args=[tenants.owner.pk])
    assert staff_client.get(url).status_code == 200


@pytest.mark.parametrize("model", ["user", "agency", "advertiser", "membership", "apikey"])
def test_non_staff_is_sent_to_the_admin_login(tenants: Tenants, model: str) -> None:
    response = client_for(tenants.owner).get(reverse(f"admin:accounts_{model}_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", ["user", "agency", "advertiser", "membership", "apikey"])
def test_changelists_query_count_does_not_grow_with_rows(
    staff_client: Client, tenants: Tenants, model: str
) -> None:
    issue_api_key(advertiser=tenants.advertiser)
    url = reverse(f"admin:accounts_{model}_changelist")
    before = changelist_queries(staff_client, url)
    for _ in range(3):
        membership = MembershipFactory.create(advertiser=AdvertiserFactory.create(), role=Role.ANALYST)
        MembershipFactory.create(user=membership.user, agency=AgencyFactory.create(), advertiser=None)
        issue_api_key(advertiser=membership.advertiser, created_by=membership.user)
    assert changelist_queries(staff_client, url) == before


# Users ----------------------------------------------------------------------------------------------


def test_add_user_with_email_and_password_twice(staff_client: Client) -> None:
    password = "a-long-passphrase-42"
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@Example.COM",
            "full_name": "New Person",
            "password1": password,
            "password2": password,
        },
    )
    user = User.objects.get(email="new.person@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_user_change", args=[user.pk])
    assert user.check_password(password)
    assert not user.is_staff and not user.is_superuser


def test_add_user_refuses_an_existing_email_in_another_case(staff_client: Client, tenants: Tenants) -> None:
    password = "a-long-passphrase-42"
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "OWNER@acme.test", "password1": password, "password2": password},
    )
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["email"])
    assert User.objects.filter(email__iexact="owner@acme.test").count() == 1


def test_add_user_needs_matching_passwords(staff_client: Client) -> None:
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "someone@example.com", "password1": "a-long-passphrase-42", "password2": "another-one-42"},
    )
    assert response.status_code == 200
    assert "password2" in response.context["adminform"].form.errors
    assert not User.objects.filter(email="someone@example.com").exists()


def test_user_change_page_lists_memberships(staff_client: Client, tenants: Tenants) -> None:
    response = staff_client.get(reverse("admin:accounts_user_change", args=[tenants.owner.pk]))
    assert "Acme Shoes" in response.content.decode()
    assert [inline.formset.prefix for inline in response.context["inline_admin_formsets"]] == ["memberships"]


def test_add_a_member_from_the_advertiser_page(staff_client: Client, tenants: Tenants) -> None:
    newcomer = UserFactory.create(email="newcomer@acme.test")
    url = reverse("admin:accounts_advertiser_change", args=[tenants.advertiser.pk])
    data = admin_form_data(staff_client.get(url))
    data.update(
        {"memberships-TOTAL_FORMS": 3, "memberships-2-user": newcomer.pk, "memberships-2-role": "manager"}
    )
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    membership = Membership.objects.get(user=newcomer)
    assert (membership.advertiser, membership.agency, membership.role) == (
        tenants.advertiser,
        None,
        "manager",
    )


def test_add_a_member_from_the_agency_page(staff_client: Client, tenants: Tenants) -> None:
    agency = tenants.advertiser.agency
    assert agency is not None
    url = reverse("admin:accounts_agency_change", args=[agency.pk])
    data = admin_form_data(staff_client.get(url))
    data.update(
        {
            "memberships-TOTAL_FORMS": 1,
            "memberships-0-user": tenants.analyst.pk,
            "memberships-0-role": "admin",
        }
    )
    assert staff_client.post(url, data).status_code == 302
    membership = Membership.objects.get(user=tenants.analyst, agency=agency)
    assert (membership.advertiser, membership.role) == (None, "admin")
    assert Advertiser.objects.for_user(tenants.analyst).filter(pk=tenants.advertiser.pk).exists()


# API keys -------------------------------------------------------------------------------------------


def test_adding_a_key_shows_its_token_once_and_the_token_authenticates(
    staff_client: Client, superuser: User, tenants: Tenants
) -> None:
    response = staff_client.post(
        reverse("admin:accounts_apikey_add"),
        {"name": "CI deploys", "agency": "", "advertiser": tenants.advertiser.pk, "role": "manager"},
        follow=True,
    )
    assert response.status_code == 200
    tokens = TOKEN_RE.findall(" ".join(messages_of(response)))
    assert len(tokens) == 1
    key = ApiKey.objects.get(name="CI deploys")
    assert ApiKey.authenticate(tokens[0]) == key
    assert (key.advertiser, key.role, key.created_by) == (tenants.advertiser, "manager", superuser)
    # The token is not kept anywhere: the next page shows neither it nor the hash.
    again = staff_client.get(reverse("admin:accounts_apikey_change", args=[key.pk])).content.decode()
    assert tokens[0] not in again
    assert key.secret_hash not in again
    assert f"adw_{key.prefix}_…" in again


def test_a_key_needs_exactly_one_scope(staff_client: Client, tenants: Tenants) -> None:
    agency = tenants.advertiser.agency
    assert agency is not None
    response = staff_client.post(
        reverse("admin:accounts_apikey_add"),
        {"name": "both", "agency": agency.pk, "advertiser": tenants.advertiser.pk, "role": "admin"},
    )
    assert response.status_code == 200
    assert "not both or neither" in str(response.context["adminform"].form.non_field_errors())
    assert not ApiKey.objects.filter(name="both").exists()


def test_a_keys_scope_and_role_are_read_only_after_creation(staff_client: Client, tenants: Tenants) -> None:
    key, token = issue_api_key(advertiser=tenants.advertiser, role=Role.ANALYST)
    url = reverse("admin:accounts_apikey_change", args=[key.pk])
    form = staff_client.get(url).context["adminform"].form
    assert set(form.fields) == {"name"}
    response = staff_client.post(
        url, {"name": "renamed", "role": "admin", "advertiser": tenants.other_advertiser.pk}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.role, key.advertiser) == ("renamed", "analyst", tenants.advertiser)
    assert ApiKey.authenticate(token) == key


def test_revoke_action(staff_client: Client, tenants: Tenants) -> None:
    key, token = issue_api_key(advertiser=tenants.advertiser)
    kept, kept_token = issue_api_key(advertiser=tenants.advertiser)
    response = staff_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk], "index": 0},
        follow=True,
    )
    assert "Revoked 1 API key(s)." in messages_of(response)
    assert ApiKey.authenticate(token) is None
    assert ApiKey.authenticate(kept_token) == kept
    key.refresh_from_db()
    assert key.revoked_at is not None


# Audit of account changes ----------------------------------------------------------------------------


def admin_entries(obj: Any, action: str) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(
            source=AuditLog.Source.ADMIN, action=action, object_type=obj._meta.label, object_id=str(obj.pk)
        )
    )


def test_advertiser_status_change_is_audited(staff_client: Client, superuser: User, tenants: Tenants) -> None:
    url = reverse("admin:accounts_advertiser_change", args=[tenants.advertiser.pk])
    data = admin_form_data(staff_client.get(url))
    data["status"] = Advertiser.Status.SUSPENDED
    assert staff_client.post(url, data).status_code == 302

    [entry] = admin_entries(tenants.advertiser, "update")
    assert entry.before == {"status": "active"}
    assert entry.after == {"status": "suspended"}
    assert entry.actor_user == superuser
    assert entry.advertiser == tenants.advertiser


def test_members_added_inline_are_audited(staff_client: Client, tenants: Tenants) -> None:
    newcomer = UserFactory.create(email="inline@acme.test")
    url = reverse("admin:accounts_advertiser_change", args=[tenants.advertiser.pk])
    data = admin_form_data(staff_client.get(url))
    data.update(
        {"memberships-TOTAL_FORMS": 3, "memberships-2-user": newcomer.pk, "memberships-2-role": "analyst"}
    )
    assert staff_client.post(url, data).status_code == 302

    membership = Membership.objects.get(user=newcomer)
    [entry] = admin_entries(membership, "create")
    assert entry.after["role"] == "analyst"
    assert entry.advertiser == tenants.advertiser


def test_issuing_and_revoking_a_key_are_audited_without_its_hash(
    staff_client: Client, tenants: Tenants
) -> None:
    key, _ = issue_api_key(advertiser=tenants.advertiser)
    staff_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk], "index": 0},
    )
    staff_client.post(
        reverse("admin:accounts_apikey_add"),
        {"name": "ci", "advertiser": tenants.advertiser.pk, "role": Role.ANALYST},
    )

    [revoked] = admin_entries(key, "revoke")
    assert revoked.before == {"revoked_at": None} and revoked.after["revoked_at"]
    new_key = ApiKey.objects.get(name="ci")
    [issued] = admin_entries(new_key, "create")
    assert "secret_hash" not in issued.after
    assert issued.after["role"] == "analyst"


def test_a_users_password_never_reaches_the_log(staff_client: Client, tenants: Tenants) -> None:
    url = reverse("admin:accounts_user_change", args=[tenants.analyst.pk])
    data = admin_form_data(staff_client.get(url))
    data["full_name"] = "Ana Lyst"
    assert staff_client.post(url, data).status_code == 302

    [entry] = admin_entries(tenants.analyst, "update")
    assert entry.after == {"full_name": "Ana Lyst"}
    assert not AuditLog.objects.filter(after__has_key="password").exists()
