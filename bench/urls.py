"""The project's URLs, plus the baselines of the throughput figure: the same campaigns as the API
serves, read by the ORM and returned by a plain JsonResponse (no DRF, no authentication, no rate
limit, no serializer)."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from campaigns.models import Campaign

PAGE = 100


def plain_campaigns(request: HttpRequest) -> JsonResponse:
    rows = Campaign.objects.filter(advertiser_id=request.GET["advertiser"]).order_by("-created_at", "-id")
    return JsonResponse({"results": list(rows.values()[:PAGE])})


def plain_campaign(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(Campaign.objects.values().get(pk=pk))


@csrf_exempt
def plain_decision(request: HttpRequest) -> JsonResponse:
    """The decision API's baseline: read the same POST body, answer a fixed decision, decide nothing."""
    json.loads(request.body)
    return JsonResponse({"request_id": "plain", "decisions": [{"placement": "bench-mpu", "ad_group_id": 1}]})


urlpatterns = [
    path("bench/plain/decision/", plain_decision),
    path("bench/plain/campaigns/", plain_campaigns),
    path("bench/plain/campaigns/<int:pk>/", plain_campaign),
    path("", include("config.urls")),
]
