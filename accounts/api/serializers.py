"""Serializers of the accounts resources: advertisers, members, API keys and the audit log.

Fields the client may not set are read-only (an advertiser's status, a key's hash and use). Foreign
keys accept only what the caller can see: another tenant's advertiser or agency answers 400, as if
it did not exist. Who may create what is checked in validate(), before anything about the rest of
the body is revealed (an analyst learns nothing about which emails have accounts).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import serializers

from accounts.api.base import AuditedSerializer
from accounts.api.scopes import administered_agencies, refuse_last_admin, require_admin_of, visible_agencies
from accounts.models import Advertiser, Agency, ApiKey, AuditLog, Membership, Role, User


def principal_of(serializer: serializers.Serializer) -> Any:
    return serializer.context["request"].user


class VisibleAdvertiserField(serializers.PrimaryKeyRelatedField):
    """An advertiser id, looked up among the caller's advertisers only."""

    def get_queryset(self) -> Any:
        return Advertiser.objects.for_user(self.context["request"].user)


class VisibleAgencyField(serializers.PrimaryKeyRelatedField):
    """An agency id, looked up among the caller's agencies only."""

    def get_queryset(self) -> Any:
        return visible_agencies(self.context["request"].user)


def one_scope(attrs: dict[str, Any], what: str) -> None:
    if (attrs.get("advertiser") is None) == (attrs.get("agency") is None):
        raise serializers.ValidationError(f"{what} is on an advertiser or on an agency: give exactly one.")


# ---------------------------------------------------------------------------------------------------
# Advertisers


class AdvertiserSerializer(AuditedSerializer):
    agency = VisibleAgencyField(
        required=False,
        allow_null=True,
        help_text="The agency the advertiser belongs to, one you admin. Optional when you admin exactly "
        "one agency; fixed once created. Null for an advertiser that manages its own account.",
    )

    class Meta:
        model = Advertiser
        fields = ("id", "agency", "name", "currency", "time_zone", "status", "domains", "created_at")
        read_only_fields = ("id", "status", "created_at")
        extra_kwargs = {
            "currency": {"help_text": "ISO 4217 code. Can change only while the account has no campaigns."},
            "status": {"help_text": "Set by the platform (suspended, closed); read only here."},
        }
        # The name's uniqueness within the agency is checked in validate(), naming the field, because
        # the agency may be left out of the body.
        validators: list[Any] = []

    def validate_agency(self, agency: Agency | None) -> Agency | None:
        if self.instance is not None and getattr(agency, "pk", None) != self.instance.agency_id:
            raise serializers.ValidationError("An advertiser cannot move to another agency.")
        return agency

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        principal = principal_of(self)
        instance: Advertiser | None = self.instance
        if instance is None:
            agency = attrs.get("agency")
            if agency is None:
                admin_of = list(administered_agencies(principal)[:2])
                if len(admin_of) != 1:
                    raise serializers.ValidationError(
                        {"agency": ["You are an admin of several agencies: name the one to create it in."]}
                    )
                attrs["agency"] = agency = admin_of[0]
            require_admin_of(principal, agency=agency)
        else:
            agency = instance.agency
            currency = attrs.get("currency", instance.currency)
            if currency != instance.currency and instance.campaigns.exists():
                raise serializers.ValidationError(
                    {"currency": ["The currency cannot change once the account has campaigns."]}
                )
        name = attrs.get("name", instance.name if instance else None)
        duplicates = Advertiser.objects.filter(agency=agency, name=name)
        if instance is not None:
            duplicates = duplicates.exclude(pk=instance.pk)
        if name and duplicates.exists():
            raise serializers.ValidationError({"name": ["An advertiser with this name already exists."]})
        return attrs

    def save(self, **kwargs: Any) -> Any:
        try:
            with transaction.atomic():
                return super().save(**kwargs)
        except IntegrityError:  # created by a concurrent request after validate() looked
            raise serializers.ValidationError(
                {"name": ["An advertiser with this name already exists."]}
            ) from None


# ---------------------------------------------------------------------------------------------------
# Members


class MemberUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "email", "full_name")
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    user = MemberUserSerializer(read_only=True)
    email = serializers.EmailField(
        write_only=True, help_text="The email address of an existing user, who gets the role."
    )
    advertiser = VisibleAdvertiserField(
        required=False, allow_null=True, help_text="The advertiser the role is on (or give `agency`)."
    )
    agency = VisibleAgencyField(
        required=False,
        allow_null=True,
        help_text="The agency the role is on, and so on all its advertisers (or give `advertiser`).",
    )

    class Meta:
        model = Membership
        fields = ("id", "user", "email", "advertiser", "agency", "role", "created_at")
        read_only_fields = ("id", "created_at")
        validators: list[Any] = []  # one membership per user and scope: checked in validate()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        one_scope(attrs, "A membership")
        advertiser, agency = attrs.get("advertiser"), attrs.get("agency")
        require_admin_of(principal_of(self), advertiser=advertiser, agency=agency)
        email = attrs.pop("email").strip()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise serializers.ValidationError(
                {"email": ["No user has this email address; they need an account first."]}
            )
        if Membership.objects.filter(user=user, advertiser=advertiser, agency=agency).exists():
            raise serializers.ValidationError(
                {"email": [f"{user.email} is already a member of {advertiser or agency}; change their role."]}
            )
        attrs["user"] = user
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Membership:
        membership = Membership(**validated_data)
        membership.full_clean()
        try:
            with transaction.atomic():
                membership.save()
        except IntegrityError:  # the same membership created by a concurrent request
            raise serializers.ValidationError(
                {"email": [f"{membership.user.email} is already a member."]}
            ) from None
        return membership


class MembershipRoleSerializer(serializers.ModelSerializer):
    """A membership's role is the one thing that changes; the user and scope stay."""

    user = MemberUserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "user", "advertiser", "agency", "role", "created_at")
        read_only_fields = ("id", "advertiser", "agency", "created_at")

    def update(self, instance: Membership, validated_data: dict[str, Any]) -> Membership:
        role = validated_data.get("role", instance.role)
        if instance.role == Role.ADMIN and role != Role.ADMIN:
            refuse_last_admin(instance)
        instance.role = role
        instance.full_clean()
        instance.save(update_fields=["role"])
        return instance


# ---------------------------------------------------------------------------------------------------
# API keys


class ApiKeySerializer(serializers.ModelSerializer):
    token_prefix = serializers.SerializerMethodField(
        help_text="How the key's token starts, to recognise it; the rest is never shown again."
    )
    advertiser = VisibleAdvertiserField(
        required=False, allow_null=True, help_text="The advertiser the key works on (or give `agency`)."
    )
    agency = VisibleAgencyField(
        required=False,
        allow_null=True,
        help_text="The agency the key works on, with all its advertisers (or give `advertiser`).",
    )
    created_by = serializers.SlugRelatedField(
        slug_field="email",
        read_only=True,
        allow_null=True,
        help_text="The user who created it; null when a key or a script did.",
    )
    is_active = serializers.BooleanField(read_only=True, help_text="False once revoked.")

    class Meta:
        model = ApiKey
        fields: tuple[str, ...] = (
            "id",
            "name",
            "token_prefix",
            "advertiser",
            "agency",
            "role",
            "is_active",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        )
        read_only_fields = ("id", "created_at", "last_used_at", "revoked_at")

    def get_token_prefix(self, key: ApiKey) -> str:
        return f"{ApiKey.TOKEN_PREFIX}_{key.prefix}_…"


class ApiKeyCreateSerializer(ApiKeySerializer):
    token = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The key itself, for `Authorization: Bearer <token>`. Shown in this response only: it "
        "is not stored (a replay with the same Idempotency-Key answers null; revoke that key and "
        "create another).",
    )

    class Meta(ApiKeySerializer.Meta):
        fields = (*ApiKeySerializer.Meta.fields, "token")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        one_scope(attrs, "An API key")
        own_role = require_admin_of(
            principal_of(self), advertiser=attrs.get("advertiser"), agency=attrs.get("agency")
        )
        if Role(attrs["role"]).rank > own_role.rank:
            raise serializers.ValidationError({"role": ["A key cannot have a higher role than yours."]})
        return attrs

    def create(self, validated_data: dict[str, Any]) -> ApiKey:
        principal = principal_of(self)
        key, token = ApiKey.issue(
            **validated_data, created_by=principal if isinstance(principal, User) else None
        )
        key.token = token  # type: ignore[attr-defined]  # for this one response
        return key


# ---------------------------------------------------------------------------------------------------
# Audit log


class AuditLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditLog
        fields = (
            "id",
            "created_at",
            "advertiser",
            "source",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "actor_label",
            "actor_user",
            "actor_api_key",
            "before",
            "after",
        )
        read_only_fields = fields
        extra_kwargs = {
            "object_type": {"help_text": "app_label.Model, e.g. `campaigns.Campaign`."},
            "before": {"help_text": "The changed fields' values before (null for a creation)."},
            "after": {"help_text": "The changed fields' values after (null for a deletion)."},
        }
