"""The campaigns resources of /api/v1/: what the Ads Manager does, for programs.

Campaigns, ad groups and creatives are created, read and updated (never deleted: archived, so that
reports and the audit log keep them); their status changes only through the actions (pause,
activate, archive), which follow the rules in campaigns/models/ and answer 409 with the rule's
message when it refuses. `duplicate` copies a campaign or an ad group with what is under it, and
`bulk` creates or updates up to 1,000 objects at once (campaigns/api/bulk.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts.api import schema
from accounts.api.base import WriteViewSet
from accounts.api.concurrency import check_if_match
from accounts.api.schema import errors
from campaigns import services
from campaigns.api.bulk import MAX_ITEMS, BulkFailure, BulkResponse, BulkWrite, bulk_item_serializer
from campaigns.api.filters import AdGroupFilter, CampaignFilter, ConversionEventFilter, CreativeFilter
from campaigns.api.serializers import (
    AdGroupSerializer,
    CampaignSerializer,
    ConversionEventSerializer,
    CreativeSerializer,
)
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative
from campaigns.models.campaign import recent_days_prefetch

ACTION_PARAMETERS = [*schema.UPDATE_PARAMETERS, schema.IDEMPOTENCY_KEY]
ACTION_ERRORS = (401, 403, 404, 412, 422, 429)
REFUSED = (
    "The rules refuse this change now; `message` says why (e.g. no approved creative yet). Also: a "
    "request with the same Idempotency-Key is still in progress."
)


class CampaignsViewSet(WriteViewSet):
    """What the campaigns resources share: status actions, duplication and bulk writes."""

    def status_change(self, request: Request, name: str) -> Response:
        """pause, activate or archive, by the model's rules (TransitionError -> 409), audited."""
        return self.change(request, name, lambda obj: getattr(obj, name)())

    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        return self.status_change(request, "activate")

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self.status_change(request, "pause")

    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        return self.status_change(request, "archive")

    def duplicate_with(self, request: Request, duplicate: Callable[[Any], Any]) -> Response:
        with transaction.atomic():
            source = self.get_object(for_update=True)  # locked: the copy is of the version If-Match names
            check_if_match(request, source)
            copy = duplicate(source)
        response = self.object_response(copy, status.HTTP_201_CREATED)
        response["Location"] = reverse(f"{self.basename}-detail", kwargs={"pk": copy.pk}, request=request)
        return response

    @action(detail=False, methods=["post"], parser_classes=[JSONParser])
    def bulk(self, request: Request) -> Response:
        return BulkWrite(self, request)()

    def bulk_update_queryset(self) -> QuerySet[Any]:
        """The objects a bulk request updates, with what their full_clean() reads."""
        return self.get_queryset()


def bulk_schema(serializer: Any, plural: str, example: dict[str, Any]) -> Any:
    return extend_schema(
        summary=f"Create or update up to {MAX_ITEMS} {plural}",
        description=(
            f"Each item without `id` creates one of the {plural} (the fields of a create); with `id`, it "
            "updates that object (only the fields given). The answer has one result per item, in order: "
            "its `id` and `status`, or its `error` in the API's error shape. Each item is checked as a "
            "single request is (its parent among your objects, your role on its advertiser, the same "
            "validation), audited, and counted against its advertiser's rate limit.\n\n"
            "By default each item is written on its own: a failed item loses no other, and the answer "
            "is 200. With `all_or_nothing: true`, nothing is written unless every item is valid; "
            "otherwise the answer is 400 with the results (the valid items read `skipped`). "
            "Images are data URIs (`data:image/png;base64,…`)."
        ),
        parameters=[*schema.READ_PARAMETERS, schema.IDEMPOTENCY_KEY],
        request=bulk_item_serializer(serializer),
        responses={
            200: BulkResponse,
            400: OpenApiResponse(
                BulkFailure,
                description=f"`items` is not a list of at most {MAX_ITEMS}, or (all_or_nothing) an item "
                "failed: nothing was written.",
            ),
            **errors(401, 409, 422, 429),
        },
        examples=[
            OpenApiExample(
                "Creates and an update",
                value={"items": [*example["items"]], "all_or_nothing": False},
                request_only=True,
            ),
            OpenApiExample("Results", value=example["results"], response_only=True, status_codes=["200"]),
        ],
    )


def action_schema(serializer: Any, summary: str, description: str, *, refusable: bool = True) -> Any:
    described = {"_409": REFUSED} if refusable else {}  # else only an Idempotency-Key still in progress
    return extend_schema(
        summary=summary,
        description=description,
        parameters=ACTION_PARAMETERS,
        request=None,
        responses={200: serializer, **errors(*ACTION_ERRORS, 409, **described)},
    )


def duplicate_schema(serializer: Any, summary: str, description: str) -> Any:
    return extend_schema(
        summary=summary,
        description=description,
        parameters=ACTION_PARAMETERS,
        request=None,
        responses={201: serializer, **errors(*ACTION_ERRORS, 400, 409, _409=REFUSED)},
    )


def crud_schemas(
    serializer: Any, one: str, plural: str, *, create_example: dict[str, Any], object_example: dict[str, Any]
) -> dict[str, Any]:
    shown = OpenApiExample(one.capitalize(), value=object_example, response_only=True)
    return {
        "list": extend_schema(
            summary=f"List {plural}",
            description=f"The {plural} of the advertisers you have a role on, newest first (cursor pages).",
            parameters=schema.READ_PARAMETERS,
            responses={200: serializer(many=True), **errors(400, *schema.READ_ERRORS)},
        ),
        "retrieve": extend_schema(
            summary=f"Get a {one}",
            parameters=schema.OBJECT_PARAMETERS,
            responses={200: serializer, **errors(*schema.OBJECT_ERRORS)},
            examples=[shown],
        ),
        "create": extend_schema(
            summary=f"Create a {one}",
            description="Admins and managers of the advertiser. Read-only fields in the body are ignored.",
            parameters=schema.CREATE_PARAMETERS,
            responses={201: serializer, **errors(*schema.CREATE_ERRORS)},
            examples=[OpenApiExample(f"New {one}", value=create_example, request_only=True), shown],
        ),
        "update": extend_schema(
            summary=f"Replace a {one}",
            description="Admins and managers. Its parent cannot change (400).",
            parameters=schema.UPDATE_PARAMETERS,
            responses={200: serializer, **errors(*schema.UPDATE_ERRORS)},
        ),
        "partial_update": extend_schema(
            summary=f"Change a {one}",
            description="Admins and managers; only the fields given. Its parent cannot change (400).",
            parameters=schema.UPDATE_PARAMETERS,
            responses={200: serializer, **errors(*schema.UPDATE_ERRORS)},
        ),
    }


# ---------------------------------------------------------------------------------------------------
# Campaigns

CAMPAIGN_CREATE = {
    "advertiser": 12,
    "name": "Spring sale",
    "objective": "traffic",
    "budget_type": "daily",
    "budget_micros": 50_000_000,
    "pacing": "standard",
    "starts_at": "2025-04-01T00:00:00Z",
    "ends_at": "2025-04-30T00:00:00Z",
    "frequency_cap_impressions": 3,
    "frequency_cap_period": "day",
}
CAMPAIGN = {
    "id": 301,
    **CAMPAIGN_CREATE,
    "status": "draft",
    "delivery": {"state": "draft", "reason": "Not published yet."},
    "spend_today_micros": 0,
    "spend_total_micros": 0,
    "credited_micros": 0,
    "remaining_budget_micros": 50_000_000,
    "pacing_today": None,
    "conversion_event": None,
    "created_at": "2025-03-20T10:00:00Z",
    "updated_at": "2025-03-20T10:00:00Z",
}


def delivery_prefetch() -> Prefetch:
    """What Campaign.delivery() reads (active ad groups, their servable creatives) in two queries."""
    creatives = Creative.objects.servable().only("id", "ad_group_id", "status", "review_status")
    return Prefetch(
        "ad_groups",
        queryset=AdGroup.objects.filter(status=AdGroup.Status.ACTIVE).prefetch_related(
            Prefetch("creatives", queryset=creatives)
        ),
    )


@extend_schema_view(
    **crud_schemas(
        CampaignSerializer, "campaign", "campaigns", create_example=CAMPAIGN_CREATE, object_example=CAMPAIGN
    ),
    activate=action_schema(
        CampaignSerializer,
        "Activate a campaign",
        "A draft or paused campaign starts delivering when its account is active, its end has not "
        "passed, and it has an active ad group with an approved, active creative (a conversions "
        "campaign also needs its conversion event). Otherwise 409 says what is missing.",
    ),
    pause=action_schema(CampaignSerializer, "Pause a campaign", "Only an active campaign can be paused."),
    archive=action_schema(
        CampaignSerializer,
        "Archive a campaign",
        "Final: an archived campaign stops for good and is kept for reports. Duplicate it to start again.",
        refusable=False,
    ),
    duplicate=duplicate_schema(
        CampaignSerializer,
        "Duplicate a campaign",
        "A draft copy named “… (copy)” with copies of the ad groups and creatives that are not "
        "archived. Creatives keep their approval only if their content is unchanged since it.",
    ),
    bulk=bulk_schema(
        CampaignSerializer,
        "campaigns",
        {
            "items": [
                {k: v for k, v in CAMPAIGN_CREATE.items() if k != "ends_at"},
                {**CAMPAIGN_CREATE, "name": "Summer sale", "budget_type": "lifetime"},
                {"id": 298, "budget_micros": 80_000_000},
            ],
            "results": {
                "results": [
                    {"index": 0, "id": 301, "status": "created"},
                    {
                        "index": 1,
                        "error": {
                            "code": "invalid",
                            "message": "ends_at: A lifetime budget needs an end date.",
                            "fields": {"ends_at": ["A lifetime budget needs an end date."]},
                        },
                    },
                    {"index": 2, "id": 298, "status": "updated"},
                ]
            },
        },
    ),
)
class CampaignViewSet(CampaignsViewSet):
    """Campaigns of the caller's advertisers. `status` changes only by the actions; money is in
    integer micros of the advertiser's currency."""

    queryset = Campaign.objects.select_related("advertiser", "conversion_event").order_by(
        "-created_at", "-id"
    )
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    ordering_fields = ("created_at", "updated_at", "name", "budget_micros", "starts_at", "id")

    def get_queryset(self) -> QuerySet[Campaign]:
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            # Not for writes: the model's clean() must see every ad group, not the active ones.
            # Today's budget day: for the delivery state and the pacing field, one query a page.
            queryset = queryset.prefetch_related(delivery_prefetch(), recent_days_prefetch())
        return queryset

    def bulk_update_queryset(self) -> QuerySet[Any]:
        # Campaign.clean() asks whether there are ad groups (the objective is then fixed): every ad
        # group's id, in one query for the batch instead of one per campaign.
        ad_groups = Prefetch("ad_groups", queryset=AdGroup.objects.only("id", "campaign_id"))
        return self.get_queryset().prefetch_related(ad_groups)

    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str | None = None) -> Response:
        return self.duplicate_with(
            request, lambda campaign: services.duplicate_campaign(campaign=campaign, actor=self.actor)
        )


# ---------------------------------------------------------------------------------------------------
# Ad groups

AD_GROUP_CREATE = {
    "campaign": 301,
    "name": "Runners, France",
    "bid_strategy": "manual_cpc",
    "bid_micros": 450_000,
    "targeting": {
        "countries": ["FR"],
        "languages": ["fr"],
        "age_ranges": [{"min": 18, "max": 34}],
        "device_types": ["mobile"],
        "interests": ["fitness", "sports"],
    },
}
AD_GROUP = {
    "id": 512,
    "advertiser": 12,
    **AD_GROUP_CREATE,
    "status": "active",
    "optimization_goal": "clicks",
    "billing_event": "click",
    "created_at": "2025-03-20T10:05:00Z",
    "updated_at": "2025-03-20T10:05:00Z",
}


@extend_schema_view(
    **crud_schemas(
        AdGroupSerializer, "ad group", "ad groups", create_example=AD_GROUP_CREATE, object_example=AD_GROUP
    ),
    activate=action_schema(
        AdGroupSerializer, "Activate an ad group", "Refused (409) when it or its campaign is archived."
    ),
    pause=action_schema(AdGroupSerializer, "Pause an ad group", "Refused (409) when it is archived."),
    archive=action_schema(
        AdGroupSerializer,
        "Archive an ad group",
        "Final: it stops for good and is kept for reports. Duplicate it to start again.",
        refusable=False,
    ),
    duplicate=duplicate_schema(
        AdGroupSerializer,
        "Duplicate an ad group",
        "A paused copy named “… (copy)” in the same campaign, with copies of the creatives that are "
        "not archived (approved ones stay approved when their content is unchanged). Refused (409) "
        "when the campaign is archived.",
    ),
    bulk=bulk_schema(
        AdGroupSerializer,
        "ad groups",
        {
            "items": [
                AD_GROUP_CREATE,
                {**AD_GROUP_CREATE, "name": "Runners, Spain", "targeting": {"countries": ["ES", "XX"]}},
                {"id": 498, "bid_micros": 500_000},
            ],
            "results": {
                "results": [
                    {"index": 0, "id": 512, "status": "created"},
                    {
                        "index": 1,
                        "error": {
                            "code": "invalid",
                            "message": "targeting.countries[1]: 'XX' is not an ISO 3166-1 country code.",
                            "fields": {"targeting.countries[1]": ["'XX' is not an ISO 3166-1 country code."]},
                        },
                    },
                    {"index": 2, "id": 498, "status": "updated"},
                ]
            },
        },
    ),
)
class AdGroupViewSet(CampaignsViewSet):
    """Ad groups: bid strategy, bid and targeting, under a campaign of the caller's advertisers."""

    queryset = AdGroup.objects.select_related("advertiser", "campaign").order_by("-created_at", "-id")
    serializer_class = AdGroupSerializer
    filterset_class = AdGroupFilter
    ordering_fields = ("created_at", "updated_at", "name", "id")

    def advertiser_for_create(self, data: dict[str, Any]) -> Any:
        return data["campaign"].advertiser

    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str | None = None) -> Response:
        return self.duplicate_with(
            request, lambda ad_group: services.duplicate_ad_group(ad_group=ad_group, actor=self.actor)
        )


# ---------------------------------------------------------------------------------------------------
# Creatives

CREATIVE_CREATE = {
    "ad_group": 512,
    "name": "Spring banner 300x250",
    "format": "banner",
    "landing_url": "https://acme-shoes.example/spring",
    "image": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAASwAAAD6…",
}
CREATIVE = {
    "id": 900,
    "advertiser": 12,
    "campaign": 301,
    **CREATIVE_CREATE,
    "image": "https://ads.example/media/creatives/12/2025/03/spring.png",
    "status": "active",
    "width": 300,
    "height": 250,
    "headline": "",
    "body": "",
    "call_to_action": "",
    "category": "outdoors",
    "vast_url": "",
    "vast_xml": "",
    "review_status": "pending",
    "rejection_reasons": [],
    "review_note": "",
    "reviewed_at": None,
    "created_at": "2025-03-20T10:10:00Z",
    "updated_at": "2025-03-20T10:10:00Z",
}


@extend_schema_view(
    **crud_schemas(
        CreativeSerializer, "creative", "creatives", create_example=CREATIVE_CREATE, object_example=CREATIVE
    ),
    activate=action_schema(
        CreativeSerializer,
        "Activate a creative",
        "Refused (409) when it is archived. It serves once approved.",
    ),
    pause=action_schema(CreativeSerializer, "Pause a creative", "Refused (409) when it is archived."),
    archive=action_schema(
        CreativeSerializer,
        "Archive a creative",
        "Final: it stops for good and is kept for reports.",
        refusable=False,
    ),
    bulk=bulk_schema(
        CreativeSerializer,
        "creatives",
        {
            "items": [
                CREATIVE_CREATE,
                {**CREATIVE_CREATE, "name": "Spring leaderboard", "ad_group": 77},
                {"id": 880, "landing_url": "https://acme-shoes.example/spring-sale"},
            ],
            "results": {
                "results": [
                    {"index": 0, "id": 900, "status": "created"},
                    {
                        "index": 1,
                        "error": {
                            "code": "invalid",
                            "message": 'ad_group: Invalid pk "77" - object does not exist.',
                            "fields": {"ad_group": ['Invalid pk "77" - object does not exist.']},
                        },
                    },
                    {"index": 2, "id": 880, "status": "updated"},
                ]
            },
        },
    ),
)
class CreativeViewSet(CampaignsViewSet):
    """Creatives: banner (an IAB-size image), native (headline, body, image, call to action) or
    video (VAST). Upload an image as multipart/form-data, or in JSON as a data URI. Review decides
    whether one serves; an edit to an approved creative's content sends it back to review."""

    queryset = Creative.objects.select_related("advertiser", "ad_group").order_by("-created_at", "-id")
    serializer_class = CreativeSerializer
    filterset_class = CreativeFilter
    ordering_fields = ("created_at", "updated_at", "name", "id")

    def advertiser_for_create(self, data: dict[str, Any]) -> Any:
        return data["ad_group"].advertiser


# ---------------------------------------------------------------------------------------------------
# Conversion events

CONVERSION_EVENT_CREATE = {
    "advertiser": 12,
    "name": "Purchase",
    "category": "purchase",
    "click_window_days": 7,
    "view_window_days": 1,
    "counting": "every",
    "default_value_micros": 25_000_000,
}
CONVERSION_EVENT = {
    "id": 44,
    **CONVERSION_EVENT_CREATE,
    "is_active": True,
    "created_at": "2025-03-01T09:30:00Z",
}


@extend_schema_view(
    **crud_schemas(
        ConversionEventSerializer,
        "conversion event",
        "conversion events",
        create_example=CONVERSION_EVENT_CREATE,
        object_example=CONVERSION_EVENT,
    )
)
class ConversionEventViewSet(WriteViewSet):
    """Conversion events of the caller's advertisers. Turn one off with `is_active: false`."""

    queryset = ConversionEvent.objects.select_related("advertiser").order_by("-created_at", "-id")
    serializer_class = ConversionEventSerializer
    filterset_class = ConversionEventFilter
    ordering_fields = ("created_at", "name", "id")
