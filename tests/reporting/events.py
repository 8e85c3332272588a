"""Writing raw events for reporting's tests: decisions with their impressions, clicks, charges and
conversions, as the drain and the tracking path would have written them, then rolled up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from campaigns.models import AdGroup, Conversion, ConversionEvent, Creative, LedgerEntry
from delivery.models import ClickEvent, DecisionEvent, ImpressionEvent
from delivery.models.events import ensure_partitions
from reporting import rollup


def uuid7_at(at: datetime, n: int) -> uuid.UUID:
    """A UUIDv7 carrying `at` (to the millisecond), made unique by `n`."""
    ms = int(at.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | ((n >> 62) & 0xFFF) << 64 | (0b10 << 62) | (n & ((1 << 62) - 1))
    return uuid.UUID(int=value)


@dataclass
class Ad:
    """One ad shown (or not) to one person: a decision and what followed it."""

    creative: Creative
    decided_at: datetime
    placement_id: int | None = None
    country: str = "US"
    device_type: str = "mobile"
    impression: str | None = "valid"  # "valid", "invalid" or None (never fired)
    impression_delay_s: float = 1.0
    click: str | None = None  # "valid", "invalid" or None
    click_delay_s: float = 30.0
    charge_micros: int = 0  # charged on the impression (or the click when clicked and billed per click)
    charge_on_click: bool = False
    conversion_value_micros: int | None = None  # a conversion credited to the ad (None: none)
    conversion_delay_s: float = 3600.0
    test: bool = False


_counter = 0


def write(ads: list[Ad], *, roll: bool = True) -> list[uuid.UUID]:
    """Write the ads' raw events; then roll up every hour they marked (unless `roll` is False)."""
    global _counter
    from datetime import timedelta

    ensure_partitions({ad.decided_at.astimezone(UTC).date() for ad in ads})
    decisions, impressions, clicks, charges, conversions = [], [], [], [], []
    ids = []
    events: dict[int, ConversionEvent] = {}
    for ad in ads:
        _counter += 1
        event_id = uuid7_at(ad.decided_at, _counter)
        ids.append(event_id)
        decided_at = datetime.fromtimestamp(int(ad.decided_at.timestamp() * 1000) / 1000, UTC)
        ad_group: AdGroup = ad.creative.ad_group
        campaign = ad_group.campaign
        advertiser = campaign.advertiser
        decisions.append(
            DecisionEvent(
                event_id=event_id,
                decided_at=decided_at,
                at=decided_at,
                request_id=f"r{_counter}",
                source="decision_api",
                slot_id="s",
                placement_id=ad.placement_id,
                advertiser_id=advertiser.pk,
                campaign_id=campaign.pk,
                ad_group_id=ad_group.pk,
                creative_id=ad.creative.pk,
                user_key=f"u{_counter % 97}",
                country=ad.country,
                device_type=ad.device_type,
                os="ios",
                bid_cpm_micros=1_000_000,
                price_cpm_micros=1_000_000,
                price_micros=ad.charge_micros,
                currency=advertiser.currency,
                billing_event="impression",
                pctr=0.01,
                pcvr=0.01,
                test=ad.test,
            )
        )
        shown_at = decided_at + timedelta(seconds=ad.impression_delay_s)
        if ad.impression:
            impressions.append(
                ImpressionEvent(
                    event_id=event_id,
                    decided_at=decided_at,
                    at=shown_at,
                    ip="192.0.2.1",
                    user_agent="test",
                    ivt_reason="" if ad.impression == "valid" else "crawler",
                )
            )
        clicked_at = decided_at + timedelta(seconds=ad.click_delay_s)
        if ad.click:
            clicks.append(
                ClickEvent(
                    event_id=event_id,
                    decided_at=decided_at,
                    at=clicked_at,
                    ip="192.0.2.1",
                    user_agent="test",
                    ivt_reason="" if ad.click == "valid" else "crawler",
                    had_impression=bool(ad.impression),
                )
            )
        if ad.charge_micros and not ad.test:
            charged_at = clicked_at if ad.charge_on_click else shown_at
            charges.append(
                LedgerEntry(
                    event_id=event_id,
                    kind=LedgerEntry.Kind.CHARGE,
                    reason=LedgerEntry.Reason.CLICK if ad.charge_on_click else LedgerEntry.Reason.IMPRESSION,
                    advertiser=advertiser,
                    campaign=campaign,
                    ad_group_id=ad_group.pk,
                    creative_id=ad.creative.pk,
                    amount_micros=ad.charge_micros,
                    currency=advertiser.currency,
                    day=charged_at.astimezone(advertiser.tz).date(),
                    at=charged_at,
                    decided_at=decided_at,
                )
            )
        if ad.conversion_value_micros is not None and not ad.test:
            if advertiser.pk not in events:
                events[advertiser.pk] = ConversionEvent.objects.get_or_create(
                    advertiser=advertiser, name="Purchase", defaults={"category": "purchase"}
                )[0]
            touch_at = clicked_at if ad.click else shown_at
            conversions.append(
                Conversion(
                    advertiser=advertiser,
                    conversion_event=events[advertiser.pk],
                    event_id=f"order-{_counter}",
                    occurred_at=touch_at + timedelta(seconds=ad.conversion_delay_s),
                    value_micros=ad.conversion_value_micros or None,
                    currency=advertiser.currency,
                    source=Conversion.Source.POSTBACK,
                    attribution=Conversion.Attribution.CLICK if ad.click else Conversion.Attribution.VIEW,
                    attributed_event_id=event_id,
                    campaign=campaign,
                    ad_group_id=ad_group.pk,
                    creative_id=ad.creative.pk,
                    touch_at=touch_at,
                )
            )
    DecisionEvent.objects.bulk_create(decisions)
    ImpressionEvent.objects.bulk_create(impressions)
    ClickEvent.objects.bulk_create(clicks)
    LedgerEntry.objects.bulk_create(charges)
    Conversion.objects.bulk_create(conversions)
    if roll:
        rollup.roll_up(budget_seconds=600)
    return ids
