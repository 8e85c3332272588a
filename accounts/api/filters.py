"""List filters of the accounts resources, strict about their values: a filter given with a value
it cannot use (`?advertiser=`, `?is_active=maybe`) answers 400 naming the parameter, instead of
being ignored and listing everything, which a client would take for the filtered answer.

Querysets are already scoped to the caller: an id filter naming another tenant's object matches
nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from accounts.models import Advertiser, ApiKey, AuditLog, Membership


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class StrictBooleanField(forms.NullBooleanField):
    widget = forms.TextInput  # the raw value: NullBooleanSelect would read anything unknown as "any"

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if value in (None, ""):
            return None
        if value in (True, "true", "True", "1"):
            return True
        if value in (False, "false", "False", "0"):
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class StrictFilterSet(django_filters.FilterSet):
    """Refuses a parameter given empty: a client that means "any" leaves the parameter out."""

    def get_form_class(self) -> Any:
        base = super().get_form_class()

        class Form(base):  # type: ignore[misc, valid-type]
            def clean(self) -> Any:
                cleaned = super().clean()
                for name in self.fields:
                    if name in self.data and self.data.get(name) == "":
                        self.add_error(name, "Give a value, or leave the parameter out.")
                return cleaned

        return Form


class AdvertiserFilter(StrictFilterSet):
    agency = IdFilter(field_name="agency_id", help_text="An agency id.")
    currency = django_filters.CharFilter(help_text="An ISO 4217 code, such as EUR.")

    class Meta:
        model = Advertiser
        fields = ("agency", "status", "currency")


class MembershipFilter(StrictFilterSet):
    advertiser = IdFilter(field_name="advertiser_id", help_text="An advertiser id.")
    agency = IdFilter(field_name="agency_id", help_text="An agency id.")
    email = django_filters.CharFilter(field_name="user__email", lookup_expr="iexact")

    class Meta:
        model = Membership
        fields = ("advertiser", "agency", "role", "email")


class ApiKeyFilter(StrictFilterSet):
    advertiser = IdFilter(field_name="advertiser_id", help_text="An advertiser id.")
    agency = IdFilter(field_name="agency_id", help_text="An agency id.")
    is_active = BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", help_text="true: not revoked; false: revoked."
    )

    class Meta:
        model = ApiKey
        fields = ("advertiser", "agency", "role", "is_active")


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, in UTC: Python accepts UTC offsets up to 24 hours, PostgreSQL only up
    to 16, and a time at the edge of year 1 or 9999 may not convert at all."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class AuditLogFilter(StrictFilterSet):
    advertiser = IdFilter(field_name="advertiser_id", help_text="An advertiser id.")
    object_type = django_filters.CharFilter(help_text="app_label.Model, e.g. `campaigns.Campaign`.")
    object_id = django_filters.CharFilter()
    action = django_filters.CharFilter(help_text="create, update, delete, activate, revoke…")
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601; inclusive."
    )
    created_before = DateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601; exclusive."
    )

    class Meta:
        model = AuditLog
        fields = (
            "advertiser",
            "object_type",
            "object_id",
            "action",
            "source",
            "created_after",
            "created_before",
        )
