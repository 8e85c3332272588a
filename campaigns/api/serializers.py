"""Serializers of the campaigns resources. Fields the client may not set are read-only; foreign keys
accept only objects the caller can see (another tenant's id answers 400, as if it did not exist).

Validation is the model's: AuditedSerializer saves through `full_clean()`, and targeting goes through
campaigns/targeting.py, so the API, the forms and the admin share one definition of valid.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueTogetherValidator

from accounts.api.base import AuditedSerializer
from accounts.models import Advertiser
from campaigns.api.fields import CreativeImageField, OwnedRelatedField, TargetingField
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative, DeliveryState
from campaigns.spend import CampaignMoney, campaign_money

MOVE_REFUSED = "An object cannot move to another {parent}; create a new one there instead."


class ParentSerializer(AuditedSerializer):
    """A resource under a parent (`parent_field`): set when the object is created, fixed after."""

    parent_field: ClassVar[str]

    def get_validators(self) -> list[Any]:
        # Unique names are the model's constraints, checked by full_clean() (and for a whole bulk
        # request at once): one rule and one message for the API, the forms and the admin.
        return [v for v in super().get_validators() if not isinstance(v, UniqueTogetherValidator)]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        parent = attrs.get(self.parent_field)
        current = getattr(self.instance, f"{self.parent_field}_id", None)
        if self.instance is not None and parent is not None and parent.pk != current:
            raise serializers.ValidationError(
                {self.parent_field: MOVE_REFUSED.format(parent=self.parent_field.replace("_", " "))}
            )
        return attrs


# ---------------------------------------------------------------------------------------------------
# Conversion events


class ConversionEventSerializer(ParentSerializer):
    """An action the advertiser counts (a purchase, a sign-up...), reported by postback or pixel."""

    parent_field = "advertiser"
    advertiser = OwnedRelatedField(Advertiser)

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
            "token",
            "created_at",
        )
        # token: what the postback (POST /t/conversions) and the pixel (/t/px/<token>) are sent with.
        read_only_fields = ("id", "token", "created_at")


# ---------------------------------------------------------------------------------------------------
# Campaigns


class DeliverySerializer(serializers.Serializer):
    """Whether the campaign delivers right now, and if not, why."""

    state = serializers.ChoiceField(choices=DeliveryState.choices)
    reason = serializers.CharField(help_text="Why, in words for the advertiser.")


class PacingSerializer(serializers.Serializer):
    """Today's pacing, as the controller left it at its last update (every minute)."""

    day = serializers.DateField(help_text="The advertiser's local day.")
    rate = serializers.FloatField(
        min_value=0, max_value=1, help_text="The share of the auctions it could enter that it enters."
    )
    planned_micros = serializers.IntegerField(help_text="The plan's spend by the last update.")
    spent_micros = serializers.IntegerField(help_text="Charged today by the last update (before credits).")
    stopped = serializers.BooleanField(help_text="Serving stopped for the day: the budget is used up.")


class CampaignListSerializer(serializers.ListSerializer):
    """A page of campaigns: their spend read in a few grouped queries for the whole page."""

    money: dict[int, CampaignMoney] | None = None

    def to_representation(self, data: Any) -> list[Any]:
        campaigns = list(data.all() if hasattr(data, "all") else data)
        self.money = campaign_money(campaigns)
        return super().to_representation(campaigns)


class CampaignSerializer(ParentSerializer):
    """A campaign: objective, budget (integer micros of the advertiser's currency), pacing, schedule
    and frequency cap. `status` changes only through the actions; `delivery` and the spend fields
    are derived (spend is the ledger's: charges less credits, on the advertiser's days)."""

    parent_field = "advertiser"
    advertiser = OwnedRelatedField(Advertiser, help_text="The advertiser account; fixed once created.")
    conversion_event = OwnedRelatedField(
        ConversionEvent,
        required=False,
        allow_null=True,
        help_text="The conversion event a conversions campaign optimises for (of the same advertiser).",
    )
    delivery = serializers.SerializerMethodField(
        help_text="Whether the campaign delivers right now, and why not (derived, never stored)."
    )
    spend_today_micros = serializers.SerializerMethodField(
        help_text="Spent on the advertiser's today, net of credits (micros)."
    )
    spend_total_micros = serializers.SerializerMethodField(
        help_text="Spent since the campaign began, net of credits (micros)."
    )
    credited_micros = serializers.SerializerMethodField(
        help_text="Credited since the campaign began: spend over the budget, never charged (micros)."
    )
    remaining_budget_micros = serializers.SerializerMethodField(
        help_text="What the budget still allows: a daily budget less today's spend, or a lifetime "
        "budget less all spend; never below 0 (micros)."
    )
    pacing_today = serializers.SerializerMethodField(
        help_text="Today's pacing (`pacing` is the setting: standard or accelerated); null until "
        "pacing has run on the advertiser's today."
    )

    class Meta:
        model = Campaign
        list_serializer_class = CampaignListSerializer
        fields = (
            "id",
            "advertiser",
            "name",
            "objective",
            "status",
            "delivery",
            "spend_today_micros",
            "spend_total_micros",
            "credited_micros",
            "remaining_budget_micros",
            "pacing_today",
            "budget_type",
            "budget_micros",
            "pacing",
            "starts_at",
            "ends_at",
            "frequency_cap_impressions",
            "frequency_cap_period",
            "conversion_event",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "status", "created_at", "updated_at")
        extra_kwargs = {
            "status": {"help_text": "Changed only by the actions: activate, pause, archive."},
            "objective": {"help_text": "Fixed once the campaign has ad groups (duplicate to change it)."},
            "ends_at": {"help_text": "Required with a lifetime budget."},
        }

    @extend_schema_field(DeliverySerializer)
    def get_delivery(self, campaign: Campaign) -> dict[str, str]:
        delivery = campaign.delivery()
        return {"state": delivery.state.value, "reason": delivery.reason}

    def money(self, campaign: Campaign) -> CampaignMoney:
        """From the page's grouped read in a list; on its own for one campaign (read once)."""
        page = getattr(self.parent, "money", None)
        if page is not None and campaign.pk in page:
            return page[campaign.pk]
        cached: dict[int, CampaignMoney] = self.__dict__.setdefault("_money", {})
        if campaign.pk not in cached:
            cached[campaign.pk] = campaign_money([campaign])[campaign.pk]
        return cached[campaign.pk]

    def get_spend_today_micros(self, campaign: Campaign) -> int:
        return self.money(campaign).today.net_micros

    def get_spend_total_micros(self, campaign: Campaign) -> int:
        return self.money(campaign).total.net_micros

    def get_credited_micros(self, campaign: Campaign) -> int:
        return self.money(campaign).total.credited_micros

    def get_remaining_budget_micros(self, campaign: Campaign) -> int:
        return self.money(campaign).remaining_micros

    @extend_schema_field(PacingSerializer(allow_null=True))
    def get_pacing_today(self, campaign: Campaign) -> dict[str, Any] | None:
        day = self.money(campaign).pacing
        if day is None:
            return None
        return {
            "day": day.day.isoformat(),
            "rate": day.rate,
            "planned_micros": day.planned_micros,
            "spent_micros": day.spent_micros,
            "stopped": day.stopped,
        }


# ---------------------------------------------------------------------------------------------------
# Ad groups


class AdGroupSerializer(ParentSerializer):
    """An ad group of a campaign: bid strategy, bid (integer micros) and targeting."""

    parent_field = "campaign"
    campaign = OwnedRelatedField(
        Campaign, select_related=("advertiser",), help_text="The campaign; fixed once created."
    )
    targeting = TargetingField(
        required=False,
        help_text="Who sees the ads; an empty list means no restriction on that dimension. "
        "A PATCH replaces the whole targeting.",
    )

    class Meta:
        model = AdGroup
        fields = (
            "id",
            "advertiser",
            "campaign",
            "name",
            "status",
            "bid_strategy",
            "bid_micros",
            "targeting",
            "optimization_goal",
            "billing_event",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "id",
            "advertiser",
            "status",
            "optimization_goal",
            "billing_event",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "advertiser": {"help_text": "The campaign's advertiser."},
            "status": {"help_text": "Changed only by the actions: activate, pause, archive."},
            "bid_strategy": {"help_text": "Allowed strategies follow from the campaign's objective."},
            "bid_micros": {"help_text": "CPM, CPC or target CPA in micros; null for lowest cost."},
            "optimization_goal": {"help_text": "Follows from the campaign's objective."},
            "billing_event": {"help_text": "Click for manual CPC, impression otherwise."},
        }


# ---------------------------------------------------------------------------------------------------
# Creatives


class CreativeSerializer(ParentSerializer):
    """An ad of an ad group: a banner (an IAB-size image), native (headline, body, image, call to
    action) or video (VAST). It serves once review has approved it."""

    parent_field = "ad_group"
    ad_group = OwnedRelatedField(
        AdGroup, select_related=("advertiser",), help_text="The ad group; fixed once created."
    )
    campaign = serializers.IntegerField(
        source="ad_group.campaign_id", read_only=True, help_text="The ad group's campaign."
    )
    image = CreativeImageField(
        required=False,
        allow_null=True,
        help_text="Banner: an IAB size (300x250, 728x90...). Native: 1.91:1 or square, at least 600 "
        "wide. PNG, JPEG, GIF or WebP up to 1 MB. Upload it as a file (multipart/form-data) or, in "
        "JSON, as a data URI string `data:image/png;base64,…`. Null for none (video).",
    )

    class Meta:
        model = Creative
        fields = (
            "id",
            "advertiser",
            "campaign",
            "ad_group",
            "name",
            "status",
            "format",
            "landing_url",
            "image",
            "width",
            "height",
            "headline",
            "body",
            "call_to_action",
            "category",
            "vast_url",
            "vast_xml",
            "review_status",
            "rejection_reasons",
            "review_note",
            "reviewed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            "id",
            "advertiser",
            "status",
            "width",
            "height",
            "review_status",
            "rejection_reasons",
            "review_note",
            "reviewed_at",
            "created_at",
            "updated_at",
        )
        extra_kwargs = {
            "advertiser": {"help_text": "The ad group's advertiser."},
            "status": {"help_text": "Changed only by the actions: activate, pause, archive."},
            "review_status": {
                "help_text": "Set by review. A change to the content of an approved creative sends it "
                "back to review."
            },
        }
