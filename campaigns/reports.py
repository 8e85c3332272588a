"""Where the Ads Manager's campaign figures come from: reporting's rollups.

Reporting sits above campaigns (it reads delivery's events), so campaigns cannot import it; it
installs its reader here at start-up (reporting.hooks), as delivery installs its gate and scorer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from accounts.models import Advertiser


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    spend_micros: int = 0  # net of credits, account currency
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    conversion_value_micros: int = 0


# (advertiser, campaign ids, first day, last day) -> figures per campaign id (absent: none)
MetricsSource = Callable[[Advertiser, list[int], date, date], dict[int, CampaignFigures]]


def _nothing(
    advertiser: Advertiser, campaign_ids: list[int], start: date, end: date
) -> dict[int, CampaignFigures]:
    return {}


_source: MetricsSource = _nothing


def set_metrics_source(source: MetricsSource) -> MetricsSource:
    """Install the reader of campaign figures; returns the one it replaces."""
    global _source
    previous, _source = _source, source
    return previous


def campaign_figures(
    advertiser: Advertiser, campaign_ids: list[int], start: date, end: date
) -> dict[int, CampaignFigures]:
    """Each campaign's figures over the advertiser's days [start, end]."""
    return _source(advertiser, campaign_ids, start, end) if campaign_ids else {}
