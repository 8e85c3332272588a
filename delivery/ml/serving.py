"""The scorer the engine calls: the active pCTR and pCVR models, swapped in without a restart.

`ModelScorer` is installed in the engine when the app starts (engine.set_scorer). For each slot it
encodes all the candidates with delivery.ml.features (the ad's features once per index snapshot and
model, cached; the request's and the pair's per call) and scores them with one call per model.

- Swapping: at most every `CHECK_SECONDS` it reads the registry's counter in Redis (one GET); when
  the counter moved, it loads the active versions from PostgreSQL. A version that fails to load
  (delivery.ml.artifact says why) is logged and skipped: the process keeps the model it had, or the
  priors.
- Cold start: with no active model of a kind, that kind's rates are the priors
  (delivery.scoring.PriorScorer); a creative the model never saw is scored through the "other"
  category and its ad group's history or the overall rate: never zero.
- Nothing in here raises into the serving path: a scoring error is logged and the priors answer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from delivery.index import Snapshot
from delivery.ml import artifact, features, registry
from delivery.models import ModelVersion
from delivery.request import AdRequest, Slot
from delivery.scoring import PriorScorer

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
_ALL_DAYS = np.array([(1 << 20) - 1], dtype=np.int64)  # the ad's history: every day its model holds


@dataclass(frozen=True, slots=True)
class Loaded:
    number: int
    model: artifact.Model


@lru_cache(maxsize=4096)
def _interests(interests: frozenset[str]) -> int:
    return features.segment_mask(interests)


@lru_cache(maxsize=65536)
def _topics(keywords: frozenset[str]) -> int:
    return features.topic_mask(keywords)


class ModelScorer:
    name = "model"

    def __init__(self) -> None:
        self.priors = PriorScorer()
        self.models: dict[str, Loaded] = {}
        self._lock = threading.Lock()
        self._signal: int | None = None
        self._checked_at = float("-inf")
        self._failed: set[tuple[str, int]] = set()
        # Per model: the snapshot its ads' features were encoded for, and them
        self._ads: dict[tuple[str, int], tuple[Snapshot, np.ndarray]] = {}

    # Swapping ---------------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Load the active models when the registry's counter moved (or when forced)."""
        now = time.monotonic()
        if not force and now - self._checked_at < CHECK_SECONDS:
            return
        self._checked_at = now
        try:
            signal = registry.serving_version()
        except Exception:
            log.warning("model registry: cannot read the version counter", exc_info=True)
            return
        if not force and signal == self._signal:
            return
        with self._lock:
            self._load()
            self._signal = signal

    def _load(self) -> None:
        try:
            active = list(ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE))
        except Exception:
            log.warning("model registry: cannot read the active versions", exc_info=True)
            return
        kinds = {version.kind for version in active}
        models = {kind: loaded for kind, loaded in self.models.items() if kind in kinds}
        for version in active:
            held = models.get(version.kind)
            if held is not None and held.number == version.number:
                continue
            if (version.kind, version.number) in self._failed:
                continue
            try:
                model = artifact.load(bytes(version.artifact), expected_sha256=version.artifact_sha256)
            except artifact.ArtifactError as exc:
                self._failed.add((version.kind, version.number))
                log.error("model registry: %s cannot be served, keeping what we had: %s", version, exc)
                continue
            models[version.kind] = Loaded(version.number, model)
            log.info("model registry: serving %s", version)
        self.models = models
        self._ads.clear()

    # Scoring ----------------------------------------------------------------------------------------

    def score(
        self,
        request: AdRequest,
        slot: Slot,
        snapshot: Snapshot,
        creative_rows: np.ndarray,
        exposures: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        self.refresh()
        models = self.models
        if "ctr" not in models or "cvr" not in models or len(creative_rows) == 0:
            pctr, pcvr = self.priors.score(request, slot, snapshot, creative_rows)
            if not models or len(creative_rows) == 0:
                return pctr, pcvr
        seen = exposures if exposures is not None else np.zeros(len(creative_rows), dtype=np.int64)
        try:
            # The request's inputs once for both models; the ads' segments are the snapshot's.
            inputs = request_inputs(request, slot, snapshot_segments(snapshot)[creative_rows], seen)
            if "ctr" in models:
                pctr = self._predict(models["ctr"], inputs, snapshot, creative_rows)
            if "cvr" in models:
                pcvr = self._predict(models["cvr"], inputs, snapshot, creative_rows)
        except Exception:  # never fail a request over a model: the priors answer
            log.exception("model scoring failed; the priors answer")
            return self.priors.score(request, slot, snapshot, creative_rows)
        return pctr, pcvr

    def _predict(
        self, loaded: Loaded, inputs: features.Inputs, snapshot: Snapshot, creative_rows: np.ndarray
    ) -> np.ndarray:
        X = self._ad_matrix(loaded, snapshot)[creative_rows]
        features.encode(
            inputs, loaded.model.tables, groups=(features.REQUEST_GROUP, features.PAIR_GROUP), out=X
        )
        return loaded.model.predict(X)

    def _ad_matrix(self, loaded: Loaded, snapshot: Snapshot) -> np.ndarray:
        """The ad's features of every creative of the snapshot under this model; made once per
        snapshot and model."""
        key = (loaded.model.kind, loaded.number)
        cached = self._ads.get(key)
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        ads = features.encode(ad_inputs(snapshot), loaded.model.tables, groups=(features.AD_GROUP,))
        self._ads[key] = (snapshot, ads)
        return ads


_segments: tuple[Snapshot, np.ndarray] | None = None


def snapshot_segments(snapshot: Snapshot) -> np.ndarray:
    """The segments each creative of the snapshot is about (a mask each), made once per snapshot."""
    global _segments  # one entry: the snapshot serving now
    cached = _segments
    if cached is not None and cached[0] is snapshot:
        return cached[1]
    masks = np.array(
        [features.creative_mask(info.categories) for info in snapshot.creative_list], dtype=np.int64
    )
    _segments = (snapshot, masks)
    return masks


def ad_inputs(snapshot: Snapshot) -> features.Inputs:
    """Inputs of every creative of the snapshot (the request's fields empty)."""
    infos = snapshot.creative_list
    n = len(infos)
    empty = np.zeros(n, dtype=np.int64)
    return features.Inputs(
        country=np.full(n, "", dtype=object),
        language=np.full(n, "", dtype=object),
        age=np.full(n, np.nan),
        gender=np.full(n, "", dtype=object),
        device_type=np.full(n, "", dtype=object),
        os=np.full(n, "", dtype=object),
        interests=empty,
        topics=empty,
        placement=empty - 1,
        publisher=empty - 1,
        local_hour=empty,
        weekday=empty,
        format=snapshot.creative_format.astype(np.int64),
        size=snapshot.creative_size.astype(np.int64),
        segments=snapshot_segments(snapshot),
        advertiser=np.array([info.advertiser_id for info in infos], dtype=np.int64),
        campaign=np.array([info.campaign_id for info in infos], dtype=np.int64),
        ad_group=np.array([info.ad_group_id for info in infos], dtype=np.int64),
        creative=snapshot.creative_ids.astype(np.int64),
        exposures=empty,
        day=np.repeat(_ALL_DAYS, n),
    )


def request_inputs(
    request: AdRequest, slot: Slot, segments: np.ndarray, exposures: np.ndarray
) -> features.Inputs:
    """Inputs of one request's candidates: the request's fields once (broadcast), the pair's per ad."""
    ctx = request.context
    epoch = int(request.at.timestamp())
    hour, weekday = features.local_time_one(features.zone_index(ctx.country, ctx.region), epoch)
    one = np.zeros(1, dtype=np.int64)
    return features.Inputs(
        country=np.array([ctx.country], dtype=object),
        language=np.array([ctx.language], dtype=object),
        age=np.array([ctx.age if ctx.age is not None and 0 <= ctx.age < 128 else np.nan], dtype=np.float64),
        gender=np.array([ctx.gender], dtype=object),
        device_type=np.array([ctx.device_type], dtype=object),
        os=np.array([ctx.os], dtype=object),
        interests=np.array([_interests(ctx.interests)], dtype=np.int64),
        topics=np.array([_topics(ctx.keywords)], dtype=np.int64),
        placement=np.array([slot.placement_id if slot.placement_id is not None else -1], dtype=np.int64),
        publisher=np.array([slot.publisher_id if slot.publisher_id is not None else -1], dtype=np.int64),
        local_hour=np.array([hour], dtype=np.int64),
        weekday=np.array([weekday], dtype=np.int64),
        format=one,
        size=one,
        segments=segments,
        advertiser=one,
        campaign=one,
        ad_group=one,
        creative=one,
        exposures=np.asarray(exposures, dtype=np.int64),
        day=np.array([epoch // 86_400], dtype=np.int64),
    )
