"""Agencies and administration, for the accounts resources of the API.

accounts/access.py answers "which advertisers may this principal see, with which role". Members and
API keys also live on agencies, and they are managed by admins only, so these resources need two
more answers: which agencies a principal belongs to, and where it is an admin. A principal is a
User or an ApiKey, as in accounts/access.py; a superuser (platform staff) is an admin everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q, QuerySet

from accounts.access import role_on
from accounts.api.errors import Conflict
from accounts.models import Advertiser, Agency, ApiKey, ApiKeyQuerySet, Membership, Role

if TYPE_CHECKING:
    from accounts.access import Principal


def _active(principal: Any) -> bool:
    return principal is not None and principal.is_authenticated and principal.is_active


def _memberships(principal: Principal) -> QuerySet[Membership] | None:
    """The memberships of a user whose access comes from them: not a key, not a superuser."""
    if isinstance(principal, ApiKey) or not _active(principal) or principal.is_superuser:
        return None
    return Membership.objects.filter(user_id=principal.pk or 0)


def visible_agencies(principal: Principal) -> QuerySet[Agency]:
    """The agencies the principal belongs to: an agency membership (any role) or an agency key."""
    if not _active(principal):
        return Agency.objects.none()
    if isinstance(principal, ApiKey):
        return Agency.objects.filter(pk=principal.agency_id) if principal.agency_id else Agency.objects.none()
    mine = _memberships(principal)
    if mine is None:  # a superuser
        return Agency.objects.all()
    return Agency.objects.filter(pk__in=mine.filter(agency__isnull=False).values("agency_id"))


def agency_role(principal: Principal, agency: Agency) -> Role | None:
    if not _active(principal):
        return None
    if isinstance(principal, ApiKey):
        return Role(principal.role) if principal.agency_id == agency.pk else None
    mine = _memberships(principal)
    if mine is None:  # a superuser
        return Role.ADMIN
    role = mine.filter(agency_id=agency.pk).values_list("role", flat=True).first()
    return Role(role) if role else None


def administered_agencies(principal: Principal) -> QuerySet[Agency]:
    if isinstance(principal, ApiKey) and principal.role != Role.ADMIN:
        return Agency.objects.none()
    mine = _memberships(principal)
    if mine is None:  # an admin key, a superuser (or nobody)
        return visible_agencies(principal)
    return Agency.objects.filter(
        pk__in=mine.filter(agency__isnull=False, role=Role.ADMIN).values("agency_id")
    )


def administered_advertisers(principal: Principal) -> QuerySet[Advertiser]:
    """The advertisers the principal is an admin of, directly or through an agency."""
    if isinstance(principal, ApiKey) and principal.role != Role.ADMIN:
        return Advertiser.objects.none()
    mine = _memberships(principal)
    if mine is None:  # an admin key, a superuser (or nobody)
        return Advertiser.objects.for_user(principal)
    admin_of = mine.filter(role=Role.ADMIN)
    return Advertiser.objects.filter(
        Q(pk__in=admin_of.filter(advertiser__isnull=False).values("advertiser_id"))
        | Q(agency_id__in=admin_of.filter(agency__isnull=False).values("agency_id"))
    )


def require_admin_of(
    principal: Principal,
    *,
    advertiser: Advertiser | None = None,
    agency: Agency | None = None,
    granting: bool = True,
) -> Role:
    """403 unless the principal is an admin of this advertiser or agency; returns its role there.

    With `granting` (giving a role or a key), also 403 on an advertiser the platform has suspended or
    closed: nothing can be changed there. Taking access away (removing a member, revoking a key) stays
    possible on any account.
    """
    if advertiser is not None:
        role = role_on(principal, advertiser)
        if role != Role.ADMIN:
            raise PermissionDenied("Only an admin of this account can do this.")
        if granting and not advertiser.is_active and not principal.is_superuser:
            raise PermissionDenied("This account is not active; it cannot be changed.")
        return role
    if agency is None:
        raise ValueError("Name an advertiser or an agency.")
    role = agency_role(principal, agency)
    if role != Role.ADMIN:
        raise PermissionDenied("Only an admin of this agency can do this.")
    return role


def refuse_last_admin(membership: Membership) -> None:
    """409 when taking this admin membership away would leave its advertiser or agency without an
    admin. An advertiser in an agency keeps the agency's admins, so only a direct advertiser (one
    without an agency) and an agency itself are protected. Locks the admin rows, so that two
    concurrent removals cannot both pass."""
    if membership.role != Role.ADMIN:
        return
    if membership.advertiser is not None:
        if membership.advertiser.agency_id is not None:
            return
        admins = Membership.objects.filter(advertiser=membership.advertiser, role=Role.ADMIN)
        what = "account"
    else:
        admins = Membership.objects.filter(agency=membership.agency, role=Role.ADMIN)
        what = "agency"
    others = [pk for pk in admins.select_for_update().values_list("pk", flat=True) if pk != membership.pk]
    if not others:
        raise Conflict(
            f"This is the last admin of the {what}; make someone else an admin first.", code="last_admin"
        )


class MembershipQuerySet(models.QuerySet[Membership]):
    def for_user(self, principal: Principal) -> MembershipQuerySet:
        """Memberships on the advertisers the principal sees and on the agencies it belongs to."""
        return self.filter(
            Q(advertiser__in=Advertiser.objects.for_user(principal).values("pk"))
            | Q(agency__in=visible_agencies(principal).values("pk"))
        )


class AdministeredApiKeyQuerySet(ApiKeyQuerySet):
    def for_user(self, principal: Principal) -> AdministeredApiKeyQuerySet:
        """The keys of the advertisers and agencies the principal is an admin of."""
        return self.filter(
            Q(advertiser__in=administered_advertisers(principal).values("pk"))
            | Q(agency__in=administered_agencies(principal).values("pk"))
        )
