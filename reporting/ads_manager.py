"""The Ads Manager's campaign list reads its figure columns from the rollups (campaigns.reports)."""

from __future__ import annotations

from datetime import date

from accounts.models import Advertiser
from campaigns.reports import CampaignFigures
from reporting import query


def campaign_metrics(
    advertiser: Advertiser, campaign_ids: list[int], start: date, end: date
) -> dict[int, CampaignFigures]:
    spec = query.Spec(advertiser, start, end, filters={"campaign": tuple(campaign_ids)})
    return {
        campaign_id: CampaignFigures(
            spend_micros=totals.net_spend_micros,
            impressions=totals.impressions,
            clicks=totals.clicks,
            conversions=totals.conversions,
            conversion_value_micros=totals.conversion_value_micros,
        )
        for campaign_id, totals in query.by(spec, "campaign").items()
    }
