"""Predicted click and conversion rates for the candidates of one slot, in one call.

`Scorer` is the seam the LightGBM models plug into (delivery/ml, the models issue): it receives the
request, the slot and the candidate creatives' rows of the index snapshot, and returns pCTR and pCVR
arrays. Until a model is trained, `PriorScorer` answers with a prior per placement format (and per
placement where one is configured): industry-typical click rates, never zero, so that CPC and target
CPA bids still rank sensibly against CPM bids.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from django.conf import settings

from delivery.index import FORMAT_CODE, Snapshot
from delivery.request import AdRequest, Slot

# Typical click-through rates by format (display banners ~0.1-0.2%, in-feed native ~0.5-1%, video
# ~1%) and post-click conversion rates (~2-5% across e-commerce and lead generation).
DEFAULT_PRIOR_CTR = {"banner": 0.0015, "native": 0.006, "video": 0.01}
DEFAULT_PRIOR_CVR = {"banner": 0.03, "native": 0.03, "video": 0.02}


class Scorer(Protocol):
    name: str

    def score(
        self,
        request: AdRequest,
        slot: Slot,
        snapshot: Snapshot,
        creative_rows: np.ndarray,
        exposures: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """pCTR and pCVR (float64 arrays, in (0, 1)) for the creatives at `creative_rows`; `exposures`
        is the person's impressions today of each creative's campaign (the gate counts them)."""
        ...


class PriorScorer:
    name = "prior"

    def __init__(self) -> None:
        ctr = {**DEFAULT_PRIOR_CTR, **getattr(settings, "DELIVERY_PRIOR_CTR", {})}
        cvr = {**DEFAULT_PRIOR_CVR, **getattr(settings, "DELIVERY_PRIOR_CVR", {})}
        self.ctr_by_format = np.array([ctr[name] for name in FORMAT_CODE], dtype=np.float64)
        self.cvr_by_format = np.array([cvr[name] for name in FORMAT_CODE], dtype=np.float64)
        # Placement-level priors, keyed by placement key, e.g. measured rates of a known slot.
        self.ctr_by_placement: dict[str, float] = dict(
            getattr(settings, "DELIVERY_PRIOR_CTR_BY_PLACEMENT", {})
        )

    def score(
        self,
        request: AdRequest,
        slot: Slot,
        snapshot: Snapshot,
        creative_rows: np.ndarray,
        exposures: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        formats = snapshot.creative_format[creative_rows]
        pctr = self.ctr_by_format[formats]
        placement = snapshot.placements.get(slot.placement_id) if slot.placement_id else None
        if placement is not None and placement.key in self.ctr_by_placement:
            pctr = np.full(len(creative_rows), self.ctr_by_placement[placement.key], dtype=np.float64)
        return pctr, self.cvr_by_format[formats]
