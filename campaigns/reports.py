"""Where the Ads Manager's campaign figures come from: reporting's rollups.

Reporting sits above campaigns (it reads delivery's events), so campaigns cannot import it; it
installs its reader here at start-up (reporting.hooks), as delivery installs its gate and scorer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

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


def _never() -> datetime | None:
    return None


_source: MetricsSource = _nothing
_as_of: Callable[[], datetime | None] = _never


def set_metrics_source(
    source: MetricsSource, as_of: Callable[[], datetime | None] = _never
) -> tuple[MetricsSource, Callable[[], datetime | None]]:
    """Install the reader of campaign figures and of the time they are complete up to; returns
    the pair it replaces."""
    global _source, _as_of
    previous = (_source, _as_of)
    _source, _as_of = source, as_of
    return previous


def figures_as_of() -> datetime | None:
    """Every event before this time is in the figures (None: not known yet)."""
    return _as_of()


def campaign_figures(
    advertiser: Advertiser, campaign_ids: list[int], start: date, end: date
) -> dict[int, CampaignFigures]:
    """Each campaign's figures over the advertiser's days [start, end]."""
    return _source(advertiser, campaign_ids, start, end) if campaign_ids else {}
