"""Campaigns, ad groups, creatives, conversion events and the audit log.

Advertiser -> Campaign -> Ad group -> Creative. Every row carries its advertiser (denormalised on ad
groups and creatives, kept equal to the parent's in save()) so that tenant scoping is one filter.

The status rules, as Ads Manager users expect them:
- A campaign starts as a draft. It can be activated only when its account is active, its schedule
  has not ended, and it has at least one active ad group with an approved, active creative; a
  conversions campaign also needs its conversion event. Active and paused switch freely.
- Archived is final for campaigns, ad groups and creatives (duplicate to start again); archived rows
  are kept for reports.
- Whether an active campaign actually delivers is its *delivery state*, derived, never stored.
- A creative serves only when approved; any change to its content (image, text, landing URL, VAST)
  sends an approved creative back to review.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

# Migrations reference these two callables by dotted path (campaigns.models._this_second,
# campaigns.models.creative_upload_to), and Django serialises a callable by its __module__ and
# __qualname__: they are defined here, before the submodules that use them are imported, so that
# those paths stay the same.


def _this_second() -> datetime:
    # Schedules are edited to the second (the admin's and browsers' widgets have no microseconds).
    return timezone.now().replace(microsecond=0)


def creative_upload_to(instance: Creative, filename: str) -> str:
    return f"creatives/{instance.advertiser_id}/{timezone.now():%Y/%m}/{filename}"


# The submodules are imported in the order the models were defined when this was one module, so that
# the app registry lists the models (and content types are created) in the same order as before.
# isort: off
from campaigns.models.base import (  # noqa: E402
    GOAL_BY_OBJECTIVE,
    STRATEGIES_BY_OBJECTIVE,
    BidStrategy,
    BillingEvent,
    Delivery,
    DeliveryState,
    Objective,
    OptimizationGoal,
    Switchable,
    TransitionError,
    http_url_validator,
    micros_validators,
)
from campaigns.models.campaign import AdGroup, AdGroupQuerySet, Campaign, CampaignQuerySet  # noqa: E402
from campaigns.models.creative import (  # noqa: E402
    CREATIVE_CATEGORIES,
    CallToAction,
    Creative,
    CreativeQuerySet,
    CreativeReview,
    RejectionReason,
    ReviewQueueManager,
)
from campaigns.models.policy import DeniedDomain, ProhibitedTerm  # noqa: E402
from campaigns.models.conversion import (  # noqa: E402
    Conversion,
    ConversionEvent,
    ConversionQuerySet,
)
from campaigns.models.budget import CampaignDay, LedgerEntry  # noqa: E402

# isort: on

__all__ = [
    "CREATIVE_CATEGORIES",
    "GOAL_BY_OBJECTIVE",
    "STRATEGIES_BY_OBJECTIVE",
    "AdGroup",
    "AdGroupQuerySet",
    "BidStrategy",
    "BillingEvent",
    "CallToAction",
    "Campaign",
    "CampaignDay",
    "CampaignQuerySet",
    "Conversion",
    "ConversionEvent",
    "ConversionQuerySet",
    "Creative",
    "CreativeQuerySet",
    "CreativeReview",
    "Delivery",
    "DeliveryState",
    "DeniedDomain",
    "LedgerEntry",
    "Objective",
    "OptimizationGoal",
    "ProhibitedTerm",
    "RejectionReason",
    "ReviewQueueManager",
    "Switchable",
    "TransitionError",
    "creative_upload_to",
    "http_url_validator",
    "micros_validators",
]
