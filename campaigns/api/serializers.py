"""Serializers of the campaigns resources. Fields the client may not set are read-only; foreign keys
accept only objects the caller can see (another tenant's id answers 400, as if it did not exist)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.api.base import AuditedSerializer
from accounts.models import Advertiser
from campaigns.models import ConversionEvent


class VisibleAdvertiserField(serializers.PrimaryKeyRelatedField):
    """An advertiser id, looked up among the caller's advertisers only."""

    def get_queryset(self) -> Any:
        return Advertiser.objects.for_user(self.context["request"].user)


class ConversionEventSerializer(AuditedSerializer):
    advertiser = VisibleAdvertiserField()

    class Meta:
        model = ConversionEvent
        fields = (
            "id",
            "advertiser",
            "name",
            "category",
            "click_window_days",
            "view_window_days",
            "counting",
            "default_value_micros",
            "is_active",
            "created_at",
        )
        read_only_fields = ("id", "created_at")

    def validate_advertiser(self, advertiser: Advertiser) -> Advertiser:
        if self.instance is not None and advertiser.pk != self.instance.advertiser_id:
            raise serializers.ValidationError("An object cannot move to another advertiser.")
        return advertiser
