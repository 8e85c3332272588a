"""The pCTR and pCVR models on a simulated week of the demo world, judged against its ground truth.

The world (bench.model_world): the demo's advertisers, publishers and placements, and a dozen more
campaigns (CPM, CPC and target CPA, several creatives each about different things) so that most
requests have several candidates. A week of its traffic is written as history (delivery.simulator
.history: the real engine's decisions, the ground truth's clicks and conversions, straight into the
event tables), ending a day ago so that every label is final. Then, as `manage.py train_models`
does, `delivery.ml.train.train` reads the rows back from PostgreSQL, trains, calibrates and judges
each model on the last fifth of the week; the figures are its holdout's, beside the ground truth's
on the same rows:

- pCTR: AUC at least 0.97 of the truth's; normalised entropy at most 0.02 above the truth's;
  predicted over observed clicks within 0.95-1.05 overall and 0.9-1.1 for each campaign with at
  least 100 holdout clicks (printed with the truth's own expected over observed, which shows how far
  the draw alone strays);
- pCVR: AUC at least 0.95 of the truth's; calibration within 0.9-1.1, judged against the true
  rates (the sum of the truth's probabilities): a week's holdout holds only a couple of hundred
  conversions, whose count strays by 7% or more on its own; predicted over observed is printed too.

Then the costs:
- scoring: 100 candidates per call (one request) against the same rows in one call, per row, in the
  same run, single-threaded; rows per second per core;
- training on 5 million rows (the week's encoded rows drawn with replacement, labels drawn again
  from the truth), within 10 minutes; the peak memory of the process while it trains;
- ranking: a day after the week, the same requests decided with the priors alone and with the
  models; what each kind of bid buys, as the truth expects it, per dollar its advertisers pay (as the
  platform charges: per impression, or per click at the impression's price over pCTR): clicks for
  CPC bids, conversions for target CPA bids.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psutil
from django.utils import timezone

from bench.results import Figure, expect
from delivery.management.commands.train_models import describe
from delivery.ml import artifact, dataset, features, serving, train
from delivery.models import ModelVersion
from delivery.scoring import PriorScorer

SEED = 7
REQUESTS_PER_HOUR = int(os.environ.get("BENCH_MODEL_REQUESTS_PER_HOUR", "30000"))
DAYS = 7
TRAINING_ROWS = int(os.environ.get("BENCH_MODEL_TRAINING_ROWS", "5000000"))
SCORING_ROWS = 100_000
CANDIDATES = 100
MIN_CAMPAIGN_CLICKS = 100


def run() -> list[Figure]:
    from bench import model_world
    from delivery.simulator import history

    model_world.build()
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    week_end = now - timedelta(days=1)
    started = time.perf_counter()
    written = history.write_history(
        start=week_end - timedelta(days=DAYS), hours=DAYS * 24, requests_per_hour=REQUESTS_PER_HOUR, seed=SEED
    )
    history_seconds = time.perf_counter() - started
    expect(written.clicks > 1_000, f"only {written.clicks} clicks in the week")

    started = time.perf_counter()
    start, end = week_end - timedelta(days=DAYS), now
    rows = (
        dataset.read("ctr", start=start, end=end, now=end),
        dataset.read("cvr", start=start, end=end, now=end),
    )
    read_seconds = time.perf_counter() - started
    ctr = train.train("ctr", now=now, days=DAYS + 1, rows=rows, trained_by="bench")
    cvr = train.train("cvr", now=now, days=DAYS + 1, rows=rows, trained_by="bench")
    expect(ctr.status == cvr.status == ModelVersion.Status.ACTIVE, "the first models became active")
    for version in (ctr, cvr):
        print(describe(version))

    figures = [
        Figure(
            "models: simulated week written as history",
            written.requests / history_seconds,
            "requests/s",
            note=f"{written.requests:,} requests, {written.impressions:,} impressions, "
            f"{written.clicks:,} clicks, {written.conversions:,} conversions in {history_seconds:.0f} s; "
            f"rows read back from PostgreSQL in {read_seconds:.0f} s",
        ),
        *quality_figures(ctr, cvr),
        *scoring_figures(ctr, rows[0]),
        *training_figures(rows[0]),
        *ranking_figures(week_end),
        *decision_figures(week_end),
    ]
    return figures


# Quality --------------------------------------------------------------------------------------------


def quality_figures(ctr: ModelVersion, cvr: ModelVersion) -> list[Figure]:
    out = []
    for version, auc_floor in ((ctr, 0.97), (cvr, 0.95)):
        name = "pCTR" if version.kind == "ctr" else "pCVR"
        holdout, truth = version.metrics["holdout"], version.metrics.get("truth") or {}
        expect(bool(truth), f"{name}: the ground truth covers the holdout")
        rows = f"{holdout['rows']:,} holdout rows, {holdout['positives']:,} positives"
        out.append(
            Figure(
                f"{name}: AUC over the ground truth's",
                truth["auc_ratio"],
                "x",
                minimum=auc_floor,
                note=f"model {holdout['auc']:.4f}, truth {truth['auc']:.4f}; {rows}; "
                f"trained in {version.training_seconds:.0f} s",
            )
        )
        if version.kind == "ctr":
            out.append(
                Figure(
                    "pCTR: normalised entropy above the truth's",
                    truth["ne_gap"],
                    "NE",
                    target=0.02,
                    note=f"model {holdout['ne']:.4f}, truth {truth['ne']:.4f}",
                )
            )
        if version.kind == "ctr":
            out.append(
                Figure(
                    "pCTR: predicted / observed clicks, overall",
                    holdout["calibration"],
                    "x",
                    minimum=0.95,
                    target=1.05,
                    note=f"predicted / the truth's expected: {truth['calibration']:.3f}",
                )
            )
        else:
            # A week's holdout holds a couple of hundred conversions, whose count alone strays by
            # 7% or more (one standard deviation): judged against the true rates, as the truth gives.
            out.append(
                Figure(
                    "pCVR: predicted / the true rates' expected conversions, overall",
                    truth["calibration"],
                    "x",
                    minimum=0.9,
                    target=1.1,
                    note=f"predicted / observed: {holdout['calibration']:.3f} ({holdout['positives']} "
                    f"conversions; the truth's own expected / observed: "
                    f"{holdout['calibration'] / truth['calibration']:.3f})",
                )
            )
    campaigns = [c for c in ctr.metrics["per_campaign"] if c["positives"] >= MIN_CAMPAIGN_CLICKS]
    if not campaigns:
        print(f"pCTR: no campaign has {MIN_CAMPAIGN_CLICKS} holdout clicks at this volume")
        return out
    worst = max(campaigns, key=lambda c: abs(c["calibration"] - 1))
    detail = "; ".join(
        f"{c['name']}: {c['calibration']:.3f} ({c['positives']} clicks, truth "
        f"{c['truth_expected'] / c['positives']:.3f})"
        for c in campaigns
    )
    out.append(
        Figure(
            "pCTR: predicted / observed, worst campaign with >= 100 clicks",
            worst["calibration"],
            "x",
            minimum=0.9,
            target=1.1,
            note=f"{len(campaigns)} campaigns; per campaign, model (clicks, the truth's expected / "
            f"observed): {detail}",
        )
    )
    return out


# Scoring --------------------------------------------------------------------------------------------


def scoring_figures(version: ModelVersion, rows: dataset.Rows) -> list[Figure]:
    model = artifact.load(bytes(version.artifact), expected_sha256=version.artifact_sha256)
    take = rows.take(slice(max(0, len(rows) - SCORING_ROWS), len(rows)))
    X = np.ascontiguousarray(features.encode(take.inputs, model.tables))
    expect(len(X) >= 10 * CANDIDATES, f"{len(X)} rows to score")

    def batch() -> float:
        started = time.perf_counter()
        model.raw(X)
        return time.perf_counter() - started

    def per_request() -> float:
        chunks = [X[i : i + CANDIDATES] for i in range(0, len(X) - CANDIDATES + 1, CANDIDATES)]
        started = time.perf_counter()
        for chunk in chunks:
            model.raw(chunk)
        return (time.perf_counter() - started) / (len(chunks) * CANDIDATES) * len(X)

    batch(), per_request()  # warm
    batch_seconds = min(batch() for _ in range(3))
    request_seconds = min(per_request() for _ in range(3))
    rows_per_second = len(X) / request_seconds
    return [
        Figure(
            "models: scoring 100 candidates per call, cost over one batch call",
            request_seconds / batch_seconds,
            "x",
            target=1.2,
            note=f"{rows_per_second:,.0f} rows/s/core in calls of {CANDIDATES} "
            f"({request_seconds / len(X) * CANDIDATES * 1e6:.0f} us per call), {len(X) / batch_seconds:,.0f} "
            f"rows/s/core in one call of {len(X):,}; {type(model.predictor).__name__}",
        )
    ]


# Training -------------------------------------------------------------------------------------------


class PeakMemory:
    """The process's peak resident memory while the block runs, sampled every 50 ms."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._done = threading.Event()

    def __enter__(self) -> PeakMemory:
        self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def training_figures(rows: dataset.Rows) -> list[Figure]:
    """LightGBM on TRAINING_ROWS rows: the week's rows drawn with replacement, in time order, their
    labels drawn again from the truth (so the rows are not copies of one another's labels)."""
    rng = np.random.default_rng(SEED)
    picked = np.sort(rng.integers(0, len(rows), TRAINING_ROWS))
    big = rows.take(picked)
    truth = np.where(np.isnan(big.truth), big.label.astype(np.float64), big.truth)
    label = rng.random(len(big)) < truth
    parts = train.split(dataset.Rows(big.kind, big.at, big.inputs, label, truth))
    tables = train.learn_tables(parts.train, rows, rows)
    with PeakMemory() as memory:
        started = time.perf_counter()
        X_train = features.encode(parts.train.inputs, tables)
        X_cal = features.encode(parts.calibration.inputs, tables)
        encoded = time.perf_counter() - started
        fitted = train.fit(X_train, parts.train.label, X_cal, parts.calibration.label)
        seconds = time.perf_counter() - started
    del X_train, X_cal
    return [
        Figure(
            f"models: training pCTR on {TRAINING_ROWS / 1e6:g} million rows",
            seconds / 60,
            "minutes",
            target=10.0,
            note=f"encoding {encoded:.0f} s, LightGBM {seconds - encoded:.0f} s to {fitted.best_iteration} "
            f"rounds on {len(parts.train):,} rows ({os.cpu_count()} cores); peak memory "
            f"{memory.peak / 2**30:.1f} GiB",
        )
    ]


# Ranking --------------------------------------------------------------------------------------------


def ranking_figures(week_end: datetime) -> list[Figure]:
    from bench import model_world

    scorer = serving.ModelScorer()
    scorer.refresh(force=True)
    expect(set(scorer.models) == {"ctr", "cvr"}, f"the models serve: {sorted(scorer.models)}")
    results = model_world.compare_ranking(
        {"priors": PriorScorer(), "models": scorer},
        start=week_end.astimezone(UTC),
        hours=24,
        requests_per_hour=REQUESTS_PER_HOUR // 2,
        seed=SEED + 1,
    )
    priors, models = results["priors"], results["models"]
    clicks, conversions = (
        (priors.by_goal["clicks"], models.by_goal["clicks"]),
        (
            priors.by_goal["conversions"],
            models.by_goal["conversions"],
        ),
    )
    expect(min(t.impressions for t in (*clicks, *conversions)) > 0, "CPC and target CPA ads were shown")

    def dollars(totals: model_world.Totals) -> str:
        return f"${totals.spend_usd_micros / 1e6:,.2f} on {totals.impressions:,} ads"

    return [
        Figure(
            "ranking with the models: clicks per dollar of CPC bids, over the priors'",
            clicks[1].clicks_per_dollar / clicks[0].clicks_per_dollar,
            "x",
            minimum=1.0,
            note=f"models {clicks[1].clicks_per_dollar:.3f} ({clicks[1].expected_clicks:,.0f} clicks, "
            f"{dollars(clicks[1])}), priors {clicks[0].clicks_per_dollar:.3f} "
            f"({clicks[0].expected_clicks:,.0f} clicks, {dollars(clicks[0])}); the same day's requests, "
            "clicks as the truth expects them",
        ),
        Figure(
            "ranking with the models: conversions per dollar of target CPA bids, over the priors'",
            conversions[1].conversions_per_dollar / conversions[0].conversions_per_dollar,
            "x",
            minimum=1.0,
            note=f"models {conversions[1].conversions_per_dollar:.4f} "
            f"({conversions[1].expected_conversions:,.1f} conversions, {dollars(conversions[1])}), "
            f"priors {conversions[0].conversions_per_dollar:.4f} "
            f"({conversions[0].expected_conversions:,.1f}, {dollars(conversions[0])}); all bids together: "
            f"{models.clicks_per_dollar:.3f} against {priors.clicks_per_dollar:.3f} clicks and "
            f"{models.conversions_per_dollar:.4f} against {priors.conversions_per_dollar:.4f} conversions "
            "per dollar",
        ),
    ]


# The serving path ------------------------------------------------------------------------------------


def decision_figures(week_end: datetime) -> list[Figure]:
    """One request at a time through engine.decide_batch (no recording), with the models and with
    the priors, on the same requests of an hour after the week."""
    from numpy.random import PCG64, Generator

    from delivery import engine
    from delivery.simulator import traffic as traffic_module
    from delivery.simulator.world import World, load_placements

    world = World.build(SEED, load_placements(), n_users=50_000)
    start = week_end.astimezone(UTC)
    traffic = traffic_module.traffic_between(
        world, start, start + timedelta(hours=1), 2_000, Generator(PCG64([SEED, 99]))
    )
    requests = traffic.requests
    scorer = serving.ModelScorer()
    scorer.refresh(force=True)
    timings: dict[str, list[float]] = {}
    for name, candidate in (("priors", PriorScorer()), ("models", scorer), ("priors again", PriorScorer())):
        previous = engine.set_scorer(candidate)
        try:
            engine.decide_batch(requests[:200], record=False)  # warm: the ads' features, the caches
            times = []
            for request in requests:
                started = time.perf_counter()
                engine.decide_batch([request], record=False)
                times.append(time.perf_counter() - started)
        finally:
            engine.set_scorer(previous)
        timings[name] = times
    models = float(np.median(timings["models"])) * 1e3
    priors = float(np.median(timings["priors"] + timings["priors again"])) * 1e3
    return [
        Figure(
            "decision in process with the models: p50",
            models,
            "ms",
            baseline=priors,
            note=f"{len(requests):,} requests of the bench world one at a time, p99 "
            f"{np.percentile(timings['models'], 99) * 1e3:.2f} ms; baseline: the priors on the same requests",
        )
    ]
