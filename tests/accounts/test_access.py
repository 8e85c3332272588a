"""Tenant scoping: who sees which advertisers' rows, and the one-object access helper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.access import get_for_user_or_404, require_admin, require_edit, role_on
from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser, AuditLog, Role, User
from campaigns import services
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative
from tests.conftest import Tenants
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    AgencyFactory,
    CampaignFactory,
    ConversionEventFactory,
    CreativeFactory,
    MembershipFactory,
    PublisherFactory,
    UserFactory,
    issue_api_key,
)

pytestmark = pytest.mark.django_db

TENANT_MODELS = (Advertiser, Campaign, AdGroup, Creative, ConversionEvent, AuditLog)


@dataclass
class World:
    tenants: Tenants
    sibling: Advertiser  # another advertiser of the same agency as tenants.advertiser
    direct: Advertiser  # an advertiser without agency
    principals: dict[str, Any]


@pytest.fixture
def world(tenants: Tenants) -> World:
    sibling = AdvertiserFactory(agency=tenants.advertiser.agency, name="Acme Socks")
    direct = AdvertiserFactory(agency=None, name="Corner Bakery")
    for advertiser in (tenants.advertiser, sibling, direct, tenants.other_advertiser):
        # One of each tenant-owned row; the services leave an audit entry for each.
        campaign = services.create_campaign(
            advertiser=advertiser, actor=Actor.system(), name="Always on", objective="awareness",
            budget_micros=10_000_000,
        )  # fmt: skip
        AdGroupFactory(campaign=campaign)
        CreativeFactory(ad_group=AdGroupFactory(campaign=campaign))
        ConversionEventFactory(advertiser=advertiser)
    # A platform-level entry (no advertiser): only platform staff see it.
    publisher = PublisherFactory()
    record(actor=Actor.system(), action="create", obj=publisher, after=snapshot(publisher))

    agency = tenants.advertiser.agency
    inactive = MembershipFactory(advertiser=tenants.advertiser, role=Role.ADMIN, user__is_active=False).user
    revoked, _ = issue_api_key(agency=agency, role=Role.ADMIN)
    revoked.revoke()
    principals = {
        "owner": tenants.owner,
        "analyst": tenants.analyst,
        "outsider": tenants.outsider,
        "agency_member": MembershipFactory(advertiser=None, agency=agency, role=Role.ANALYST).user,
        "superuser": UserFactory(is_superuser=True, is_staff=True),
        "staff_not_superuser": UserFactory(is_staff=True),
        "inactive_user": inactive,
        "anonymous": AnonymousUser(),
        "agency_key": issue_api_key(agency=agency, role=Role.ANALYST)[0],
        "advertiser_key": issue_api_key(advertiser=tenants.other_advertiser, role=Role.MANAGER)[0],
        "direct_key": issue_api_key(advertiser=direct)[0],
        "revoked_key": revoked,
    }
    return World(tenants, sibling, direct, principals)


def _visible_names(world: World, principal_name: str) -> set[str]:
    names = {
        "owner": {"Acme Shoes"},
        "analyst": {"Acme Shoes"},
        "outsider": {"Globex"},
        "agency_member": {"Acme Shoes", "Acme Socks"},
        "superuser": {"Acme Shoes", "Acme Socks", "Corner Bakery", "Globex"},
        "staff_not_superuser": set(),
        "inactive_user": set(),
        "anonymous": set(),
        "agency_key": {"Acme Shoes", "Acme Socks"},
        "advertiser_key": {"Globex"},
        "direct_key": {"Corner Bakery"},
        "revoked_key": set(),
    }
    return names[principal_name]


@pytest.mark.parametrize(
    "principal_name",
    [
        "owner", "analyst", "outsider", "agency_member", "superuser", "staff_not_superuser", "inactive_user",
        "anonymous", "agency_key", "advertiser_key", "direct_key", "revoked_key",
    ],
)  # fmt: skip
def test_for_user_shows_each_principal_its_own_advertisers_rows(world: World, principal_name: str) -> None:
    principal = world.principals[principal_name]
    expected = _visible_names(world, principal_name)
    for model in TENANT_MODELS:
        rows = model.objects.for_user(principal)  # type: ignore[attr-defined]
        field = "name" if model is Advertiser else "advertiser__name"
        seen = set(rows.values_list(field, flat=True))
        if model is AuditLog and principal_name == "superuser":
            assert None in seen, "platform staff see platform-level audit entries"
            seen.discard(None)
        assert seen == expected, model.__name__
        if expected:
            assert rows.exists(), model.__name__


def test_for_user_chains_with_other_filters(world: World) -> None:
    owner = world.tenants.owner
    assert Campaign.objects.for_user(owner).not_archived().count() == 1
    assert (
        Campaign.objects.filter(name="Always on").for_user(owner).get().advertiser == world.tenants.advertiser
    )


# get_for_user_or_404 ------------------------------------------------------------------------------


@pytest.fixture
def campaign(tenants: Tenants) -> Campaign:
    return CampaignFactory(advertiser=tenants.advertiser)


def test_owner_may_read_and_write(tenants: Tenants, campaign: Campaign) -> None:
    assert get_for_user_or_404(Campaign, tenants.owner, pk=campaign.pk) == campaign
    assert get_for_user_or_404(Campaign.objects.all(), tenants.owner, write=True, pk=campaign.pk) == campaign
    assert get_for_user_or_404(Advertiser, tenants.owner, write=True, pk=tenants.advertiser.pk)


def test_analyst_may_read_but_not_write(tenants: Tenants, campaign: Campaign) -> None:
    assert get_for_user_or_404(Campaign, tenants.analyst, pk=campaign.pk) == campaign
    with pytest.raises(PermissionDenied, match="read only"):
        get_for_user_or_404(Campaign, tenants.analyst, write=True, pk=campaign.pk)


@pytest.mark.parametrize("write", [False, True])
def test_another_tenants_object_is_a_404_never_a_403(
    tenants: Tenants, campaign: Campaign, write: bool
) -> None:
    for principal in (tenants.outsider, AnonymousUser()):
        with pytest.raises(Http404):
            get_for_user_or_404(Campaign, principal, write=write, pk=campaign.pk)


def test_a_missing_or_malformed_id_is_a_404(tenants: Tenants) -> None:
    for lookup in ({"pk": 987654}, {"pk": "not-a-number"}):
        with pytest.raises(Http404):
            get_for_user_or_404(Campaign, tenants.owner, **lookup)


def test_nothing_can_be_changed_on_a_suspended_account_except_by_platform_staff(
    tenants: Tenants, campaign: Campaign
) -> None:
    Advertiser.objects.filter(pk=tenants.advertiser.pk).update(status=Advertiser.Status.SUSPENDED)
    assert get_for_user_or_404(Campaign, tenants.owner, pk=campaign.pk)  # still readable
    with pytest.raises(PermissionDenied, match="not active"):
        get_for_user_or_404(Campaign, tenants.owner, write=True, pk=campaign.pk)
    superuser = UserFactory(is_superuser=True)
    assert get_for_user_or_404(Campaign, superuser, write=True, pk=campaign.pk) == campaign


def test_api_keys_write_according_to_their_role(tenants: Tenants, campaign: Campaign) -> None:
    reader, _ = issue_api_key(advertiser=tenants.advertiser, role=Role.ANALYST)
    writer, _ = issue_api_key(agency=tenants.advertiser.agency, role=Role.MANAGER)
    with pytest.raises(PermissionDenied):
        get_for_user_or_404(Campaign, reader, write=True, pk=campaign.pk)
    assert get_for_user_or_404(Campaign, writer, write=True, pk=campaign.pk) == campaign
    elsewhere, _ = issue_api_key(advertiser=tenants.other_advertiser, role=Role.ADMIN)
    with pytest.raises(Http404):
        get_for_user_or_404(Campaign, elsewhere, pk=campaign.pk)


# role_on, require_edit, require_admin ----------------------------------------------------------


@pytest.mark.parametrize(
    ("agency_role", "direct_role", "expected"),
    [
        (Role.ANALYST, Role.ADMIN, Role.ADMIN),
        (Role.ADMIN, Role.ANALYST, Role.ADMIN),
        (Role.MANAGER, Role.ANALYST, Role.MANAGER),
        (None, Role.ANALYST, Role.ANALYST),
        (Role.MANAGER, None, Role.MANAGER),
        (None, None, None),
    ],
)
def test_role_on_takes_the_highest_of_agency_and_direct_memberships(
    agency_role: Role | None, direct_role: Role | None, expected: Role | None
) -> None:
    advertiser = AdvertiserFactory()
    user = UserFactory()
    if agency_role:
        MembershipFactory(user=user, advertiser=None, agency=advertiser.agency, role=agency_role)
    if direct_role:
        MembershipFactory(user=user, advertiser=advertiser, role=direct_role)
    MembershipFactory(user=user, advertiser=AdvertiserFactory(), role=Role.ADMIN)  # elsewhere: irrelevant
    assert role_on(user, advertiser) == expected


def test_role_on_for_other_principals(tenants: Tenants) -> None:
    advertiser = tenants.advertiser
    direct = AdvertiserFactory(agency=None)
    inactive_admin = UserFactory(is_superuser=True, is_active=False)
    agency_key, _ = issue_api_key(agency=advertiser.agency, role=Role.MANAGER)
    assert role_on(UserFactory(is_superuser=True), advertiser) == Role.ADMIN
    assert role_on(inactive_admin, advertiser) is None
    assert role_on(AnonymousUser(), advertiser) is None
    assert role_on(tenants.outsider, advertiser) is None
    assert role_on(agency_key, advertiser) == Role.MANAGER
    assert role_on(agency_key, direct) is None  # an agency key does not reach advertisers without agency
    assert role_on(agency_key, tenants.other_advertiser) is None
    agency_key.revoke()
    assert role_on(agency_key, advertiser) is None


def test_require_edit_and_require_admin(tenants: Tenants) -> None:
    manager = MembershipFactory(advertiser=tenants.advertiser, role=Role.MANAGER).user
    require_edit(manager, tenants.advertiser)
    require_edit(tenants.owner, tenants.advertiser)
    with pytest.raises(PermissionDenied):
        require_edit(tenants.analyst, tenants.advertiser)
    with pytest.raises(PermissionDenied):
        require_edit(tenants.outsider, tenants.advertiser)
    require_admin(tenants.owner, tenants.advertiser)
    for user in (manager, tenants.analyst, tenants.outsider):
        with pytest.raises(PermissionDenied, match="Only an admin"):
            require_admin(user, tenants.advertiser)


def test_agency_membership_reaches_advertisers_added_later(tenants: Tenants) -> None:
    agency = AgencyFactory()
    member: User = MembershipFactory(advertiser=None, agency=agency, role=Role.MANAGER).user
    assert not Advertiser.objects.for_user(member).exists()
    added = AdvertiserFactory(agency=agency)
    assert list(Advertiser.objects.for_user(member)) == [added]
    assert role_on(member, added) == Role.MANAGER
