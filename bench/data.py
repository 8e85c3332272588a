"""The rows the figures read: an agency's advertiser with 1,000 campaigns, each with an ad group
and an approved banner creative (so that the list's derived delivery state has something to read),
and an admin API key to call the API with. Written with bulk_create: building the data is not
what is measured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts.models import Advertiser, Agency, ApiKey, Role
from campaigns.models import AdGroup, BidStrategy, Campaign, Creative, Objective


@dataclass(frozen=True, slots=True)
class BenchAccount:
    advertiser: Advertiser
    token: str
    campaign_ids: list[int]


def bench_account(name: str, *, campaigns: int) -> BenchAccount:
    agency = Agency.objects.create(name=f"{name} agency", slug=f"{name.lower()}-agency")
    advertiser = Advertiser.objects.create(agency=agency, name=name, currency="USD", time_zone="UTC")
    _, token = ApiKey.issue(name="bench", role=Role.ADMIN, agency=agency)
    if campaigns:
        fill(advertiser, campaigns)
    ids = list(Campaign.objects.filter(advertiser=advertiser).values_list("pk", flat=True))
    return BenchAccount(advertiser=advertiser, token=token, campaign_ids=ids)


def fill(
    advertiser: Advertiser,
    count: int,
    *,
    ad_groups_per_campaign: int = 1,
    creatives_per_ad_group: tuple[int, ...] = (1,),
) -> None:
    """`count` campaigns (a third each active, paused, draft) with their ad groups and banners, in
    bulk. `creatives_per_ad_group` cycles over a campaign's ad groups; each group's first creative
    is approved, the others wait for review."""
    start = timezone.now() - timedelta(days=1)
    statuses = [Campaign.Status.ACTIVE, Campaign.Status.PAUSED, Campaign.Status.DRAFT]
    campaigns = Campaign.objects.bulk_create(
        Campaign(
            advertiser=advertiser,
            name=f"Campaign {i:04d}",
            objective=Objective.AWARENESS,
            status=statuses[i % len(statuses)],
            budget_micros=10_000_000 + i,
            starts_at=start,
        )
        for i in range(count)
    )
    ad_groups = AdGroup.objects.bulk_create(
        AdGroup(
            advertiser=advertiser,
            campaign=campaign,
            name=f"Ad group {n}",
            bid_strategy=BidStrategy.MANUAL_CPM,
            bid_micros=2_000_000,
            targeting={"countries": ["US"]},
            optimization_goal="impressions",
            billing_event="impression",
        )
        for campaign in campaigns
        for n in range(ad_groups_per_campaign)
    )
    Creative.objects.bulk_create(
        Creative(
            advertiser=advertiser,
            ad_group=ad_group,
            name=f"Banner {n}",
            format=Creative.Format.BANNER,
            landing_url="https://example.com/",
            image="creatives/bench/banner.png",
            width=300,
            height=250,
            review_status=Creative.ReviewStatus.APPROVED if n == 0 else Creative.ReviewStatus.PENDING,
            content_hash="bench",
            approved_content_hash="bench" if n == 0 else "",
        )
        for index, ad_group in enumerate(ad_groups)
        for n in range(creatives_per_ad_group[index % ad_groups_per_campaign % len(creatives_per_ad_group)])
    )
