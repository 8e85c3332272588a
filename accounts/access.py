"""Tenant scoping, in one place.

A *principal* is whoever asks: a logged-in User or an ApiKey. It sees the advertisers it has a
membership on (directly, or through their agency); a key sees the advertiser or agency it is scoped
to. Superusers (platform staff) see every advertiser, as admins.

Every model that belongs to an advertiser carries an `advertiser` foreign key and uses
`TenantQuerySet`, so `Campaign.objects.for_user(principal)` is the only filter any view or API
needs. `get_for_user_or_404()` is the access helper for one object: 404 for another tenant's object
(never revealing that it exists), 403 when the principal's role may not do what is asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypeVar

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import models
from django.db.models import Q
from django.http import Http404

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import Advertiser, ApiKey, AuditLog, Role, User  # noqa: F401 - AuditLog: in a base class string

    Principal: TypeAlias = User | ApiKey | AnonymousUser

M = TypeVar("M", bound=models.Model)


def _is_api_key(principal: Any) -> bool:
    from accounts.models import ApiKey

    return isinstance(principal, ApiKey)


def advertiser_filter(principal: Principal, *, field: str = "id") -> Q:
    """A Q object selecting, through `field`, the advertisers that `principal` can see."""
    from accounts.models import Membership

    if principal is None or not principal.is_authenticated or not principal.is_active:
        return Q(pk__in=[])
    if _is_api_key(principal):
        if principal.advertiser_id is not None:  # type: ignore[union-attr]
            return Q(**{field: principal.advertiser_id})  # type: ignore[union-attr]
        agency_field = "agency_id" if field == "id" else field.removesuffix("_id") + "__agency_id"
        return Q(**{agency_field: principal.agency_id})  # type: ignore[union-attr]
    if principal.is_superuser:
        return Q()
    mine = Membership.objects.filter(user_id=principal.pk)
    agency_field = "agency_id" if field == "id" else field.removesuffix("_id") + "__agency_id"
    return Q(**{f"{field}__in": mine.filter(advertiser__isnull=False).values("advertiser_id")}) | Q(
        **{f"{agency_field}__in": mine.filter(agency__isnull=False).values("agency_id")}
    )


def agency_filter(principal: Principal, *, field: str = "agency_id") -> Q:
    """A Q object selecting, through `field`, the agencies `principal` belongs to (any role)."""
    from accounts.models import Membership

    if principal is None or not principal.is_authenticated or not principal.is_active:
        return Q(pk__in=[])
    if _is_api_key(principal):
        agency_id = principal.agency_id  # type: ignore[union-attr]
        return Q(**{field: agency_id}) if agency_id is not None else Q(pk__in=[])
    if principal.is_superuser:
        return Q()
    mine = Membership.objects.filter(user_id=principal.pk, agency__isnull=False)
    return Q(**{f"{field}__in": mine.values("agency_id")})


def role_on(principal: Principal, advertiser: Advertiser) -> Role | None:
    """The principal's role on this advertiser: the highest of its direct and agency memberships."""
    from accounts.models import Membership, Role

    if principal is None or not principal.is_authenticated or not principal.is_active:
        return None
    if _is_api_key(principal):
        key: ApiKey = principal  # type: ignore[assignment]
        in_scope = key.advertiser_id == advertiser.pk or (
            key.agency_id is not None and key.agency_id == advertiser.agency_id
        )
        return Role(key.role) if in_scope else None
    if principal.is_superuser:
        return Role.ADMIN
    scope = Q(advertiser_id=advertiser.pk)
    if advertiser.agency_id is not None:
        scope |= Q(agency_id=advertiser.agency_id)
    roles = [
        Role(role)
        for role in Membership.objects.filter(scope, user_id=principal.pk).values_list("role", flat=True)
    ]
    return Role.highest(roles)


class TenantQuerySet(models.QuerySet[M]):
    """Base QuerySet for every model with an `advertiser` foreign key."""

    advertiser_field = "advertiser_id"

    def for_user(self, principal: Principal) -> Self:
        return self.filter(advertiser_filter(principal, field=self.advertiser_field))


class AuditLogQuerySet(TenantQuerySet["AuditLog"]):
    """Entries about the caller's advertisers, and about its agencies (agency members, agency keys)."""

    def for_user(self, principal: Principal) -> Self:
        return self.filter(advertiser_filter(principal, field="advertiser_id") | agency_filter(principal))


class AdvertiserQuerySet(TenantQuerySet["Advertiser"]):
    advertiser_field = "id"

    def active(self) -> Self:
        return self.filter(status="active")


def get_for_user_or_404(
    queryset: models.QuerySet[M] | type[M], principal: Principal, *, write: bool = False, **lookup: Any
) -> M:
    """One object the principal may see, else 404; with write=True, 403 unless its role can edit.

    `queryset` is a model or QuerySet whose QuerySet is a TenantQuerySet (or AdvertiserQuerySet).
    """
    qs = queryset._default_manager.all() if isinstance(queryset, type) else queryset
    try:
        obj = qs.for_user(principal).get(**lookup)  # type: ignore[attr-defined]
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.") from None
    if write:
        require_edit(principal, advertiser_of(obj))
    return obj


def require_edit(principal: Principal, advertiser: Advertiser) -> None:
    """403 unless the principal may change this advertiser's objects (admin or manager)."""
    role = role_on(principal, advertiser)
    if role is None or not role.can_edit:
        raise PermissionDenied("Your role on this account is read only.")
    if not advertiser.is_active and not getattr(principal, "is_superuser", False):
        raise PermissionDenied("This account is not active; it cannot be changed.")


def require_admin(principal: Principal, advertiser: Advertiser) -> None:
    """403 unless the principal is an admin of this advertiser (members, API keys, the account)."""
    from accounts.models import Role

    if role_on(principal, advertiser) != Role.ADMIN:
        raise PermissionDenied("Only an admin of this account can do this.")


def advertiser_of(obj: models.Model) -> Advertiser:
    from accounts.models import Advertiser

    return obj if isinstance(obj, Advertiser) else obj.advertiser  # type: ignore[attr-defined]
