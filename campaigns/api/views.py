"""The campaigns resources of /api/v1/: what the Ads Manager does, for programs."""

from __future__ import annotations

import django_filters

from accounts.api.base import WriteViewSet
from campaigns.api.serializers import ConversionEventSerializer
from campaigns.models import ConversionEvent


class ConversionEventFilter(django_filters.FilterSet):
    class Meta:
        model = ConversionEvent
        fields = ("advertiser", "category", "is_active")


class ConversionEventViewSet(WriteViewSet):
    """Conversion events of the caller's advertisers. Turn one off with `is_active: false`."""

    queryset = ConversionEvent.objects.select_related("advertiser").order_by("-created_at", "-id")
    serializer_class = ConversionEventSerializer
    filterset_class = ConversionEventFilter
    ordering_fields = ("created_at", "name")
