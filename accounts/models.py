"""Users, agencies, advertiser accounts, memberships with roles, and API keys.

Who may see what is decided in accounts/access.py from the rows here; every view and API asks it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zoneinfo
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify

from accounts.access import AdvertiserQuerySet, AuditLogQuerySet
from accounts.money import currency_choices, validate_currency

if TYPE_CHECKING:
    from django.db.models import QuerySet


class Role(models.TextChoices):
    """A role on an advertiser (or on an agency, then on each of its advertisers)."""

    ADMIN = "admin", "Admin"  # everything, including members and API keys
    MANAGER = "manager", "Manager"  # edit campaigns, ad groups, creatives, budgets
    ANALYST = "analyst", "Analyst"  # read only

    @property
    def rank(self) -> int:
        return {"analyst": 1, "manager": 2, "admin": 3}[self.value]

    @property
    def can_edit(self) -> bool:
        return self.rank >= Role.MANAGER.rank

    @classmethod
    def highest(cls, roles: list[Role]) -> Role | None:
        return max(roles, key=lambda role: role.rank, default=None)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        # Emails are stored in lower case; logging in (site or admin) is case-insensitive.
        return self.get(email=(username or "").strip().lower())

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with an email address; reaches advertisers through memberships."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can log in to the admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.email.strip().lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Agency(models.Model):
    """A company that runs the ad accounts of several advertisers."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "agencies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            self.slug = slugify(self.name)[:100]
        super().save(*args, **kwargs)


@cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(name: str) -> None:
    if name not in _time_zone_names():
        raise ValidationError(f"{name!r} is not an IANA time zone such as Europe/Paris.", code="invalid_tz")


domain_validator = RegexValidator(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    "Enter a domain name such as example.com, without scheme or path.",
)


class Advertiser(models.Model):
    """An ad account: owns campaigns, pays in one currency, and lives in one time zone."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"  # by the platform: nothing delivers, nothing can be edited
        CLOSED = "closed", "Closed"

    agency = models.ForeignKey(
        Agency,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="advertisers",
        help_text="Empty for an advertiser that manages its own account.",
    )
    name = models.CharField(max_length=200)
    currency = models.CharField(
        max_length=3,
        choices=currency_choices,
        validators=[validate_currency],
        help_text="ISO 4217 code. Fixed once the account has spent.",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA name; daily budgets and report days follow it.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    domains = ArrayField(
        models.CharField(max_length=253, validators=[domain_validator]),
        default=list,
        blank=True,
        help_text="The advertiser's own domains: landing pages are checked against them in review.",
    )
    trusted = models.BooleanField(
        default=False,
        help_text="Creatives that pass every automatic check are approved without a human "
        "(when REVIEW_AUTO_APPROVE_TRUSTED is on).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AdvertiserQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "name"], name="advertiser_name_unique_in_agency"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(agency__isnull=True), name="direct_advertiser_name_unique"
            ),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="currency_is_iso"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def local_today(self) -> Any:
        return timezone.now().astimezone(self.tz).date()

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    """A user's role on one advertiser, or on an agency (and so on all its advertisers)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    advertiser = models.ForeignKey(
        Advertiser, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(agency__isnull=False, advertiser__isnull=True)
                    | models.Q(agency__isnull=True, advertiser__isnull=False)
                ),
                name="membership_on_agency_xor_advertiser",
            ),
            models.UniqueConstraint(
                fields=["user", "agency"],
                condition=models.Q(agency__isnull=False),
                name="one_membership_per_user_and_agency",
            ),
            models.UniqueConstraint(
                fields=["user", "advertiser"],
                condition=models.Q(advertiser__isnull=False),
                name="one_membership_per_user_and_advertiser",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.agency or self.advertiser}"

    def clean(self) -> None:
        if (self.agency_id is None) == (self.advertiser_id is None):
            raise ValidationError("A membership is on an agency or on an advertiser, not both or neither.")


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> QuerySet[ApiKey]:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A secret for programs. Stored as a SHA-256 hash: the key itself is shown once, at creation.

    The token reads `adw_<prefix>_<secret>`; the prefix finds the row, the secret is compared with
    its hash in constant time. Keys are 256-bit random, so a fast hash is enough (as for GitHub's).
    """

    TOKEN_PREFIX = "adw"  # noqa: S105 - a public marker, not a secret

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    advertiser = models.ForeignKey(
        Advertiser, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(agency__isnull=False, advertiser__isnull=True)
                    | models.Q(agency__isnull=True, advertiser__isnull=False)
                ),
                name="api_key_on_agency_xor_advertiser",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    # Principal interface shared with User (see accounts/access.py).
    is_authenticated = True
    is_superuser = False

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def _hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(
        cls,
        *,
        name: str,
        role: Role | str,
        agency: Agency | None = None,
        advertiser: Advertiser | None = None,
        created_by: User | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; return it with the token, which is never stored and cannot be shown again."""
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = cls(
            name=name,
            role=role,
            agency=agency,
            advertiser=advertiser,
            created_by=created_by,
            prefix=prefix,
            secret_hash=cls._hash(secret),
        )
        key.full_clean()
        key.save()
        return key, f"{cls.TOKEN_PREFIX}_{prefix}_{secret}"

    @classmethod
    def authenticate(cls, token: str) -> ApiKey | None:
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != cls.TOKEN_PREFIX:
            return None
        _, prefix, secret = parts
        key = cls.objects.active().filter(prefix=prefix).first()
        if key is None or not hmac.compare_digest(key.secret_hash, cls._hash(secret)):
            return None
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            # Written at most once a minute per key, so that busy clients do not rewrite the row.
            cls.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def clean(self) -> None:
        if (self.agency_id is None) == (self.advertiser_id is None):
            raise ValidationError(
                "An API key is scoped to an agency or to an advertiser, not both or neither."
            )


class AuditLog(models.Model):
    """Every change: who (user or API key), from where, what, before and after. Append-only: a
    database trigger refuses UPDATE and DELETE (accounts migration 0002)."""

    class Source(models.TextChoices):
        WEB = "web", "Ads Manager"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        SYSTEM = "system", "System"

    # No database constraints on these: an entry outlives the user, key or account it names (rows the
    # log refers to may be deleted; the log itself never is).
    advertiser = models.ForeignKey(
        Advertiser, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # The agency the change concerns (its memberships and keys, or its advertisers' objects), so that
    # agency members see agency-level changes too.
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_user = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_api_key = models.ForeignKey(
        ApiKey,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, help_text="Who, as it read at the time.")
    source = models.CharField(max_length=8, choices=Source.choices)
    action = models.CharField(max_length=32)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["advertiser", "-created_at"]),
            models.Index(fields=["agency", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValidationError("Audit log entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError("Audit log entries cannot be deleted.")
