"""Building blocks for ad server tests: live ad groups, slots and requests, a fresh index."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from django.utils import timezone

from campaigns.models import AdGroup, BidStrategy, Campaign, Creative, Objective
from delivery import engine
from delivery.index import Snapshot
from delivery.models import Placement
from delivery.request import AdRequest, Context, Slot, Source
from tests.factories import AdGroupFactory, CampaignFactory, approved_creative, png_file


def live_ad_group(
    *,
    targeting: dict[str, Any] | None = None,
    bid_strategy: str = BidStrategy.MANUAL_CPM,
    bid_micros: int | None = 2_000_000,
    objective: str = Objective.AWARENESS,
    creative_format: str = Creative.Format.BANNER,
    size: tuple[int, int] = (300, 250),
    campaign: Campaign | None = None,
    **campaign_fields: Any,
) -> AdGroup:
    """An active campaign with an active ad group and one approved, active creative."""
    if campaign is None:
        campaign = CampaignFactory(objective=objective, **campaign_fields)
    group = AdGroupFactory(
        campaign=campaign, bid_strategy=bid_strategy, bid_micros=bid_micros, targeting=targeting or {}
    )
    creative: dict[str, Any] = {"format": creative_format}
    if creative_format == Creative.Format.BANNER:
        creative["image"] = png_file(*size)
    elif creative_format == Creative.Format.NATIVE:
        creative |= {
            "image": png_file(1200, 628),
            "headline": "Hello",
            "body": "World",
            "call_to_action": "shop_now",
        }
    else:
        creative |= {"image": "", "vast_url": "https://video.example/vast.xml"}
    approved_creative(ad_group=group, **creative)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE)
    return group


def fresh_index() -> Snapshot:
    return engine.rebuild()


def slot_for(placement: Placement, *, count: int = 1, floor: int | None = None) -> Slot:
    slot = Slot.for_placement(engine.snapshot().placements[placement.pk], count=count)
    return slot if floor is None else replace(slot, floor_cpm_micros=floor)


def ad_request(
    *slots: Slot, at: datetime | None = None, explain: bool = False, request_id: str = "req-1", **context: Any
) -> AdRequest:
    for name in ("interests", "keywords"):
        if name in context:
            context[name] = frozenset(context[name])
    return AdRequest(
        id=request_id,
        user_key="user-1",
        context=Context(**context),
        slots=tuple(slots),
        at=at or timezone.now(),
        source=Source.DECISIONS,
        explain=explain,
    )
