"""Users, agencies, advertisers, memberships and API keys: their rules in Python and in the database."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Advertiser, Agency, ApiKey, Membership, Role, User
from tests.factories import AdvertiserFactory, AgencyFactory, MembershipFactory, UserFactory, issue_api_key

pytestmark = pytest.mark.django_db


# Users --------------------------------------------------------------------------------------------


def test_create_user_normalises_the_email_and_hashes_the_password() -> None:
    user = User.objects.create_user("Jane.Doe@Example.COM", "s3cret-pass")
    assert user.email == "jane.doe@example.com"
    assert user.password != "s3cret-pass"
    assert user.check_password("s3cret-pass")
    assert not user.is_staff
    assert not user.is_superuser


def test_create_user_needs_an_email() -> None:
    with pytest.raises(ValueError, match="email"):
        User.objects.create_user("", "pw")


def test_create_superuser_is_staff_and_superuser() -> None:
    admin = User.objects.create_superuser("root@example.com", "pw")
    assert admin.is_staff
    assert admin.is_superuser


def test_emails_are_unique_whatever_their_case() -> None:
    UserFactory(email="sam@example.com")
    with pytest.raises(ValidationError) as exc:
        User.objects.create_user("SAM@example.com", "pw")
    assert "email" in exc.value.message_dict
    with transaction.atomic(), pytest.raises(IntegrityError):
        User.objects.create(email="Sam@Example.com")  # bypasses the manager's lowercasing


def test_names() -> None:
    user = UserFactory(email="kim@example.com", full_name="Kim Lee")
    assert (user.get_full_name(), user.get_short_name(), str(user)) == ("Kim Lee", "Kim", "kim@example.com")
    nameless = UserFactory(full_name="")
    assert nameless.get_full_name() == nameless.email == nameless.get_short_name()


# Agencies and advertisers -------------------------------------------------------------------------


def test_agency_slug_comes_from_its_name() -> None:
    agency = Agency.objects.create(name="Northwind Media Group")
    assert agency.slug == "northwind-media-group"


def test_advertiser_validation_names_each_bad_field() -> None:
    advertiser = Advertiser(
        name="Bad", currency="ABC", time_zone="Mars/Olympus", domains=["https://acme.com/x"]
    )
    with pytest.raises(ValidationError) as exc:
        advertiser.full_clean()
    assert {"currency", "time_zone", "domains"} <= set(exc.value.message_dict)


def test_advertiser_with_good_values_validates() -> None:
    advertiser = Advertiser(
        name="Good", currency="EUR", time_zone="Europe/Paris", domains=["shop.example.fr", "example.fr"]
    )
    advertiser.full_clean()
    assert str(advertiser.tz) == "Europe/Paris"
    assert advertiser.is_active


def test_advertiser_currency_must_be_iso_in_the_database() -> None:
    advertiser = AdvertiserFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Advertiser.objects.filter(pk=advertiser.pk).update(currency="usd")


def test_advertiser_names_are_unique_within_an_agency_and_among_direct_advertisers() -> None:
    agency = AgencyFactory()
    AdvertiserFactory(agency=agency, name="Acme")
    AdvertiserFactory(agency=AgencyFactory(), name="Acme")  # another agency: fine
    AdvertiserFactory(agency=None, name="Acme")  # a direct advertiser: fine
    with transaction.atomic(), pytest.raises(IntegrityError):
        Advertiser.objects.create(agency=agency, name="Acme", currency="USD")
    with transaction.atomic(), pytest.raises(IntegrityError):
        Advertiser.objects.create(agency=None, name="Acme", currency="USD")


def test_local_today_follows_the_advertiser_time_zone() -> None:
    advertiser = AdvertiserFactory(time_zone="Pacific/Auckland")
    with time_machine.travel("2024-06-03 20:00:00+00:00", tick=False):
        assert str(advertiser.local_today()) == "2024-06-04"


# Memberships --------------------------------------------------------------------------------------


def test_membership_is_on_an_agency_or_an_advertiser_not_both_nor_neither() -> None:
    user, advertiser = UserFactory(), AdvertiserFactory()
    for scope in ({"agency": advertiser.agency, "advertiser": advertiser}, {}):
        membership = Membership(user=user, role=Role.ADMIN, **scope)
        with pytest.raises(ValidationError, match="not both or neither"):
            membership.full_clean()
        with transaction.atomic(), pytest.raises(IntegrityError):
            membership.save()


def test_one_membership_per_user_and_advertiser() -> None:
    existing = MembershipFactory(role=Role.ANALYST)
    duplicate = Membership(user=existing.user, advertiser=existing.advertiser, role=Role.ADMIN)
    with pytest.raises(ValidationError):
        duplicate.full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        duplicate.save()


def test_one_membership_per_user_and_agency() -> None:
    existing = MembershipFactory(advertiser=None, agency=AgencyFactory(), role=Role.ANALYST)
    duplicate = Membership(user=existing.user, agency=existing.agency, role=Role.ADMIN)
    with pytest.raises(ValidationError):
        duplicate.full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        duplicate.save()


def test_a_user_may_be_member_of_an_agency_and_of_one_of_its_advertisers() -> None:
    advertiser = AdvertiserFactory()
    user = MembershipFactory(advertiser=advertiser, role=Role.ANALYST).user
    Membership(user=user, agency=advertiser.agency, role=Role.MANAGER).full_clean()


def test_roles_rank_and_edit_rights() -> None:
    assert [Role(r).rank for r in ("analyst", "manager", "admin")] == [1, 2, 3]
    assert (Role.ANALYST.can_edit, Role.MANAGER.can_edit, Role.ADMIN.can_edit) == (False, True, True)
    assert Role.highest([Role.ANALYST, Role.ADMIN, Role.MANAGER]) == Role.ADMIN
    assert Role.highest([]) is None


# API keys -----------------------------------------------------------------------------------------


def test_issue_returns_a_token_that_is_not_stored() -> None:
    advertiser = AdvertiserFactory()
    key, token = issue_api_key(advertiser=advertiser, role=Role.MANAGER)
    prefix, _, secret = token.removeprefix("adw_").partition("_")
    assert token.startswith("adw_")
    assert key.prefix == prefix
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert not any(secret in str(value) for value in stored.values())
    assert str(key) == f"test key ({prefix}…)"


def test_authenticate_finds_the_key_and_notes_its_use() -> None:
    key, token = issue_api_key(advertiser=AdvertiserFactory())
    assert key.last_used_at is None
    found = ApiKey.authenticate(token)
    assert found == key
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None
    assert ApiKey.authenticate(f"  {token}\n") == key  # pasted with whitespace


def test_last_used_at_is_written_at_most_once_a_minute() -> None:
    key, token = issue_api_key(advertiser=AdvertiserFactory())
    with time_machine.travel("2024-06-03 12:00:00+00:00", tick=False):
        ApiKey.authenticate(token)
    with time_machine.travel("2024-06-03 12:00:30+00:00", tick=False):
        ApiKey.authenticate(token)
        assert ApiKey.objects.get(pk=key.pk).last_used_at.isoformat() == "2024-06-03T12:00:00+00:00"
    with time_machine.travel("2024-06-03 12:01:30+00:00", tick=False):
        ApiKey.authenticate(token)
        assert ApiKey.objects.get(pk=key.pk).last_used_at.isoformat() == "2024-06-03T12:01:30+00:00"


def test_a_wrong_secret_or_malformed_token_authenticates_nobody() -> None:
    key, token = issue_api_key(advertiser=AdvertiserFactory())
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (wrong, "", "adw", f"adw_{key.prefix}", f"xyz_{key.prefix}_secret", "adw_nosuchprefix_secret"):
        assert ApiKey.authenticate(bad) is None
    assert ApiKey.objects.get(pk=key.pk).last_used_at is None


def test_a_revoked_key_authenticates_nobody() -> None:
    key, token = issue_api_key(agency=AgencyFactory())
    with time_machine.travel(timezone.now(), tick=False):
        key.revoke()
        revoked_at = key.revoked_at
    assert not key.is_active
    assert ApiKey.authenticate(token) is None
    assert list(ApiKey.objects.active()) == []
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        key.revoke()  # revoking again keeps the first date
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at


def test_an_api_key_is_scoped_to_an_agency_or_an_advertiser() -> None:
    advertiser = AdvertiserFactory()
    with pytest.raises(ValidationError, match="not both or neither"):
        issue_api_key(agency=advertiser.agency, advertiser=advertiser)
    with pytest.raises(ValidationError, match="not both or neither"):
        issue_api_key()
    key, _ = issue_api_key(advertiser=advertiser)
    with transaction.atomic(), pytest.raises(IntegrityError):
        ApiKey.objects.filter(pk=key.pk).update(agency=advertiser.agency)
    with transaction.atomic(), pytest.raises(IntegrityError):
        ApiKey.objects.filter(pk=key.pk).update(advertiser=None)
    assert ApiKey.objects.count() == 1


def test_an_api_key_role_must_be_known() -> None:
    with pytest.raises(ValidationError) as exc:
        issue_api_key(advertiser=AdvertiserFactory(), role="owner")
    assert "role" in exc.value.message_dict
