""" "Why is my ad group not delivering?": the Ads Manager's answer, built on the engine's explanations.

First the rules that keep an ad group out of the serving index altogether (the campaign's delivery
state, the ad group's status, approved creatives, the index's own reasons). Then, for a person the
ad group targets, a test auction on every active placement, explained: where the ad group would win
and at what price, where a filter removes it and which, where it is outbid (with the winning eCPM,
never whose), where its bid is under the floor. Nothing is recorded: these auctions are not traffic.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.money import format_micros
from campaigns.models import AdGroup
from delivery import engine, fx
from delivery.engine import DESCRIPTIONS, FilterReason
from delivery.request import AdRequest, Context, Decision, PlacementInfo, Slot, Source


@dataclass(frozen=True, slots=True)
class PlacementVerdict:
    placement: str
    publisher: str
    format: str
    floor: str  # in the account's currency
    outcome: str  # "wins", "outbid", "below_reserve", "filtered"
    detail: str
    your_ecpm: str = ""
    price: str = ""


@dataclass(frozen=True, slots=True)
class Diagnosis:
    delivering: bool
    headline: str
    person: str  # the person the test auctions are for, in words
    verdicts: tuple[PlacementVerdict, ...] = ()


def diagnose(ad_group: AdGroup, *, at: datetime | None = None) -> Diagnosis:
    at = at or timezone.now()
    campaign = ad_group.campaign
    delivery = campaign.delivery(at)
    if ad_group.status != AdGroup.Status.ACTIVE:
        return Diagnosis(False, f"The ad group is {ad_group.get_status_display().lower()}.", "")
    if not delivery.is_delivering:
        return Diagnosis(False, f"The campaign is not delivering: {delivery.reason}", "")
    snapshot = engine.snapshot()
    if ad_group.pk not in snapshot.row_of_ad_group:
        reason = snapshot.left_out.get(ad_group.pk)
        if reason is None:
            reason = "It is not in the serving index yet; the index refreshes within a minute."
        return Diagnosis(False, reason, "")
    context = _person(ad_group)
    currency = ad_group.advertiser.currency
    verdicts = []
    for placement in sorted(snapshot.placements.values(), key=lambda p: p.key):
        slot = Slot.for_placement(placement)
        request = AdRequest(
            id=uuid.uuid4().hex,
            user_key="diagnosis",
            context=context,
            slots=(slot,),
            at=at,
            source=Source.DECISIONS,
            explain=True,
        )
        [decision] = engine.decide_batch([request], record=False)
        verdicts.append(_verdict(ad_group, placement, decision, currency))
    wins = sum(v.outcome == "wins" for v in verdicts)
    headline = (
        f"Delivering: it wins the test auction on {wins} of {len(verdicts)} placements."
        if wins
        else "It wins no test auction: see each placement below."
    )
    return Diagnosis(bool(wins), headline, _describe(context), tuple(verdicts))


def _money(usd_cpm_micros: int | None, currency: str) -> str:
    if usd_cpm_micros is None:
        return ""
    local = fx.from_usd_micros(usd_cpm_micros, currency)
    return "" if local is None else format_micros(local, currency) + " CPM"


def _verdict(
    ad_group: AdGroup, placement: PlacementInfo, decision: Decision, currency: str
) -> PlacementVerdict:
    [explanation] = decision.explanations or []
    common = {
        "placement": placement.key,
        "publisher": placement.publisher_domain,
        "format": placement.format,
        "floor": _money(placement.floor_cpm_micros, currency),
    }
    mine = next((c for c in explanation.candidates if c.ad_group_id == ad_group.pk), None)
    rejection = next((r for r in explanation.rejections if r.ad_group_id == ad_group.pk), None)
    if mine is not None and mine.won:
        return PlacementVerdict(
            **common,
            outcome="wins",
            detail="Wins the auction.",
            your_ecpm=_money(mine.ecpm_cpm_micros, currency),
            price=_money(mine.price_cpm_micros, currency),
        )
    if mine is not None:
        winner = next((c for c in explanation.candidates if c.won), None)
        if rejection is not None and rejection.reason == FilterReason.BELOW_RESERVE:
            return PlacementVerdict(
                **common,
                outcome="below_reserve",
                detail=DESCRIPTIONS[FilterReason.BELOW_RESERVE],
                your_ecpm=_money(mine.ecpm_cpm_micros, currency),
            )
        detail = "Outbid"
        if winner is not None:
            detail += f": the winning ad's eCPM was {_money(winner.ecpm_cpm_micros, currency)}"
        return PlacementVerdict(
            **common, outcome="outbid", detail=detail + ".", your_ecpm=_money(mine.ecpm_cpm_micros, currency)
        )
    detail = rejection.detail if rejection is not None else "Not eligible."
    return PlacementVerdict(**common, outcome="filtered", detail=detail)


def _person(ad_group: AdGroup) -> Context:
    """Someone the ad group targets: the first value of every dimension it restricts."""
    t = ad_group.targeting or {}

    def first(name: str) -> str:
        values = t.get(name) or []
        return values[0] if values else ""

    ages = t.get("age_ranges") or []
    region = first("regions")
    return Context(
        country=first("countries") or (region[:2] if region else ""),
        region=region,
        language=first("languages"),
        device_type=first("device_types"),
        os=first("operating_systems"),
        age=(ages[0]["min"] + ages[0]["max"]) // 2 if ages else None,
        gender=first("genders"),
        interests=frozenset(t.get("interests", [])[:1]),
        keywords=frozenset(t.get("keywords", [])[:1]),
    )


def _describe(context: Context) -> str:
    parts = [
        part
        for part in (
            context.region or context.country,
            context.language and f"speaks {context.language}",
            context.age and f"aged {context.age}",
            context.gender,
            context.device_type,
            context.os,
            context.interests and "interested in " + ", ".join(sorted(context.interests)),
            context.keywords and "reading about " + ", ".join(sorted(context.keywords)),
        )
        if part
    ]
    return "; ".join(parts) if parts else "anyone (the ad group targets everyone)"
