"""Training a model version: rows, split by time, LightGBM, calibration, evaluation, registry.

1. The rows of the window (delivery.ml.dataset: labels final only), in time order, split by time:
   the first 70% train, the next 10% calibrate (and stop the boosting early), the last 20% are the
   holdout the version is judged on.
2. The feature tables are learned from the training part (vocabularies) and from all the window's
   events before each row's day (history), then every row is encoded by delivery.ml.features.encode.
3. LightGBM (binary log loss) with the identifier features categorical; then Platt scaling of its raw
   score on the calibration part (shrunk toward no correction when that part holds few positives).
4. On the holdout: AUC, log loss, normalised entropy (log loss over the log loss of always
   predicting the base rate; He et al., ADKDD 2014), calibration (predicted over observed) overall and
   per campaign, a reliability table, and the top features by LightGBM's own contributions
   (`pred_contrib`). Where the simulator's ground truth covers the rows, the same metrics of the true
   probabilities: the best any model could do on those rows.
5. The active version of the kind (or, when none is, the priors that serve instead) scores the same
   holdout; the new version becomes active only if its log loss there is lower, otherwise it stays a
   candidate (`decision` says why).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from sklearn.metrics import roc_auc_score

from campaigns.models import Campaign
from delivery.ml import artifact, dataset, features, registry
from delivery.models import ModelVersion
from delivery.scoring import PriorScorer

log = logging.getLogger(__name__)

KINDS = ("ctr", "cvr")
TRAIN_TENTHS, CALIBRATION_TENTHS = 7, 1  # of the rows, in time order; the rest is the holdout
RELIABILITY_BINS = 12
CONTRIBUTION_SAMPLE = 20_000
EPS = 1e-12


class TrainingError(ValueError):
    """Training that cannot be done (an empty window, no positives), and why."""


@dataclass(frozen=True, slots=True)
class Split:
    train: dataset.Rows
    calibration: dataset.Rows
    holdout: dataset.Rows
    holdout_start: float


def params(positives: int) -> dict[str, Any]:
    """LightGBM's parameters. With few positives (a week's conversions), small and heavily smoothed
    trees: a few hundred positives can say little about each campaign and creative, and deeper trees
    learn their noise (tried on a simulated week: 1,000 conversions, 4-leaf trees judged best)."""
    few = positives < 2_000
    return {
        "objective": "binary",
        "learning_rate": 0.03 if few else 0.05,
        "num_leaves": 4 if few else 63,
        "min_data_in_leaf": 200,
        "min_sum_hessian_in_leaf": 1.0,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 50.0 if few else 10.0,
        "cat_smooth": 50.0 if few else 20.0,
        "cat_l2": 10.0,
        "max_cat_to_onehot": 8,
        "min_data_per_group": 200 if few else 50,
        "max_bin": 255,
        # Explicit: scoring in the same process sets LightGBM's default thread count to one.
        "num_threads": getattr(settings, "ML_TRAINING_THREADS", 0) or os.cpu_count() or 1,
        "verbosity": -1,
        "seed": 7,
        "deterministic": True,
        "force_row_wise": True,
    }


def split(rows: dataset.Rows) -> Split:
    n = len(rows)
    a, b = n * TRAIN_TENTHS // 10, n * (TRAIN_TENTHS + CALIBRATION_TENTHS) // 10
    return Split(
        rows.take(slice(0, a)),
        rows.take(slice(a, b)),
        rows.take(slice(b, n)),
        float(rows.at[b]) if b < n else float("inf"),
    )


def learn_tables(train: dataset.Rows, ctr_rows: dataset.Rows, cvr_rows: dataset.Rows) -> features.Tables:
    """Vocabularies from the training rows; rates and history from all the window's rows (a row
    only ever sees the days before its own)."""
    inputs = train.inputs
    vocabularies = {
        name: features.learn_vocabulary(getattr(inputs, name)) for name in features.VOCABULARY_FEATURES
    }

    def history(rows: dataset.Rows, ids: np.ndarray) -> features.History:
        return features.History.count(ids, rows.inputs.day, np.ones(len(rows)), rows.label.astype(np.float64))

    return features.Tables(
        vocabularies=vocabularies,
        ctr=float(ctr_rows.label.mean()) if len(ctr_rows) else features.Tables().ctr,
        cvr=float(cvr_rows.label.mean()) if len(cvr_rows) and cvr_rows.label.any() else features.Tables().cvr,
        creative_clicks=history(ctr_rows, ctr_rows.inputs.creative),
        ad_group_clicks=history(ctr_rows, ctr_rows.inputs.ad_group),
        creative_conversions=history(cvr_rows, cvr_rows.inputs.creative),
        ad_group_conversions=history(cvr_rows, cvr_rows.inputs.ad_group),
    )


def serving_tables(tables: features.Tables) -> features.Tables:
    """The tables shipped with the model: the history's totals only."""
    return features.Tables(
        vocabularies=tables.vocabularies,
        ctr=tables.ctr,
        cvr=tables.cvr,
        creative_clicks=tables.creative_clicks.totals(),
        ad_group_clicks=tables.ad_group_clicks.totals(),
        creative_conversions=tables.creative_conversions.totals(),
        ad_group_conversions=tables.ad_group_conversions.totals(),
    )


# Metrics --------------------------------------------------------------------------------------------


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    y = y.astype(np.float64)
    base = float(y.mean()) if len(y) else 0.0
    loss = log_loss(y, p)
    base_loss = log_loss(y, np.full(len(y), base)) if 0 < base < 1 else float("nan")
    return {
        "rows": len(y),
        "positives": int(y.sum()),
        "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None,
        "log_loss": loss,
        "ne": loss / base_loss if base_loss and np.isfinite(base_loss) else None,
        "calibration": float(p.sum() / y.sum()) if y.sum() else None,
        "base_rate": base,
    }


def reliability(y: np.ndarray, p: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict[str, Any]]:
    if len(p) == 0:
        return []
    order = np.argsort(p, kind="stable")
    return [
        {"predicted": float(p[part].mean()), "observed": float(y[part].mean()), "rows": len(part)}
        for part in np.array_split(order, min(bins, len(p)))
    ]


def per_campaign(rows: dataset.Rows, p: np.ndarray) -> list[dict[str, Any]]:
    ids = rows.inputs.campaign
    names = dict(Campaign.objects.filter(pk__in=np.unique(ids).tolist()).values_list("pk", "name"))
    out: list[dict[str, Any]] = []
    for campaign_id in np.unique(ids).tolist():
        mine = ids == campaign_id
        positives = int(rows.label[mine].sum())
        predicted = float(p[mine].sum())
        truth = rows.truth[mine]
        out.append(
            {
                "campaign_id": int(campaign_id),
                "name": names.get(campaign_id, f"campaign {campaign_id}"),
                "rows": int(mine.sum()),
                "positives": positives,
                "predicted": predicted,
                "calibration": predicted / positives if positives else None,
                "truth_expected": float(truth.sum()) if not np.isnan(truth).any() else None,
            }
        )
    out.sort(key=lambda row: -int(row["positives"]))
    return out


def truth_metrics(rows: dataset.Rows, p: np.ndarray) -> dict[str, Any] | None:
    known = ~np.isnan(rows.truth)
    if not known.any() or known.sum() < len(rows) * 0.99:
        return None
    y, truth = rows.label[known].astype(np.float64), rows.truth[known]
    mine = metrics(y, p[known])
    best = metrics(y, truth)
    out: dict[str, Any] = {
        "rows": int(known.sum()),
        "auc": best["auc"],
        "log_loss": best["log_loss"],
        "ne": best["ne"],
        "calibration": float(p[known].sum() / truth.sum()),
        "auc_ratio": (mine["auc"] / best["auc"]) if mine["auc"] and best["auc"] else None,
        "ne_gap": (mine["ne"] - best["ne"]) if mine["ne"] is not None and best["ne"] is not None else None,
    }
    return out


def top_features(booster: lgb.Booster, X: np.ndarray) -> list[dict[str, Any]]:
    sample = X[: min(len(X), CONTRIBUTION_SAMPLE)]
    if len(sample) == 0:
        return []
    contributions = np.abs(booster.predict(sample, pred_contrib=True))[:, :-1].mean(axis=0)
    order = np.argsort(-contributions)
    return [{"name": features.NAMES[i], "contribution": float(contributions[i])} for i in order]


# Training -------------------------------------------------------------------------------------------


def window(now: datetime | None = None, days: int | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    days = days or int(getattr(settings, "ML_TRAINING_DAYS", 7))
    return now - timedelta(days=days), now


def train(
    kind: str,
    *,
    now: datetime | None = None,
    days: int | None = None,
    trained_by: str = "command",
    promote: bool = True,
    rows: tuple[dataset.Rows, dataset.Rows] | None = None,
) -> ModelVersion:
    """Train, judge and register a version of `kind`; active if it beats the active one."""
    if kind not in KINDS:
        raise TrainingError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    started = time.perf_counter()
    start, end = window(now, days)
    if rows is None:
        ctr_rows = dataset.read("ctr", start=start, end=end, now=end)
        cvr_rows = dataset.read("cvr", start=start, end=end, now=end)
    else:
        ctr_rows, cvr_rows = rows
    data = ctr_rows if kind == "ctr" else cvr_rows
    what = "impressions" if kind == "ctr" else "clicks"
    label = "clicks" if kind == "ctr" else "conversions"
    if len(data) == 0:
        raise TrainingError(
            f"no {what} with final labels between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC: "
            "nothing to train on"
        )
    minimum = getattr(settings, "ML_MIN_POSITIVES", 30)
    if data.label.sum() < minimum:
        raise TrainingError(
            f"only {int(data.label.sum())} {label} among {len(data)} {what} in the window: at least "
            f"{minimum} are needed to learn anything"
        )
    parts = split(data)
    if len(parts.holdout) == 0 or not parts.holdout.label.any() or not parts.train.label.any():
        raise TrainingError(f"the {label} are too few to split by time into training and holdout")
    tables = learn_tables(parts.train, ctr_rows, cvr_rows)
    X_train = features.encode(parts.train.inputs, tables)
    X_cal = features.encode(parts.calibration.inputs, tables)
    X_hold = features.encode(parts.holdout.inputs, tables)

    fitted = fit(X_train, parts.train.label, X_cal, parts.calibration.label)
    del X_train
    model_text, calibration = fitted.model_text, fitted.calibration
    blob = artifact.dump(kind, serving_tables(tables), calibration, model_text)
    model = artifact.load(blob)
    p_hold = model.predict(X_hold)
    y_hold = parts.holdout.label.astype(np.float64)

    result: dict[str, Any] = {
        "holdout": metrics(y_hold, p_hold),
        "truth": truth_metrics(parts.holdout, p_hold),
        "per_campaign": per_campaign(parts.holdout, p_hold),
        "reliability": reliability(y_hold, p_hold),
        "top_features": top_features(lgb.Booster(model_str=model_text), X_hold),
        "calibration_method": "platt",
        "calibration": calibration.as_json(),
        "train": {
            "rows": len(parts.train),
            "positives": int(parts.train.label.sum()),
            "best_iteration": fitted.best_iteration,
            "params": fitted.params,
        },
        "compared_with": None,
    }
    beats, reason = judge(kind, parts.holdout, tables, result)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with transaction.atomic():
        number = (ModelVersion.objects.filter(kind=kind).aggregate(n=Max("number"))["n"] or 0) + 1
        version = ModelVersion.objects.create(
            kind=kind,
            number=number,
            trained_by=trained_by,
            spec_fingerprint=features.SPEC,
            spec=features.spec(),
            window_start=start,
            window_end=end,
            holdout_start=datetime.fromtimestamp(parts.holdout_start, tz=UTC)
            if np.isfinite(parts.holdout_start)
            else end,
            rows_train=len(parts.train),
            rows_calibration=len(parts.calibration),
            rows_holdout=len(parts.holdout),
            positives=int(data.label.sum()),
            metrics=_finite(result),
            training_seconds=time.perf_counter() - started,
            peak_memory_bytes=peak,
            artifact=blob,
            artifact_sha256=artifact.sha256(blob),
            decision=reason,
        )
        if promote and beats:
            registry.promote(version, by=trained_by, reason=reason)
    log.info("trained %s: %s", version, reason)
    return version


def judge(
    kind: str, holdout: dataset.Rows, tables: features.Tables, result: dict[str, Any]
) -> tuple[bool, str]:
    """Whether the new version beats what serves now on its holdout, and why: the active version
    (scored with its own vocabularies and rates, and the history as of each row's day, as it would
    have been served), or the priors when no version is active. Records what it was compared with."""
    y = holdout.label.astype(np.float64)
    mine = result["holdout"]["log_loss"]
    current = registry.active(kind)
    if current is None:
        theirs = metrics(y, prior_rates(kind, holdout))
        result["compared_with"] = {"number": None, "label": "the priors", "holdout": theirs}
        beats = mine < theirs["log_loss"]
        return beats, (
            f"Log loss {mine:.5f} on this holdout against the priors' {theirs['log_loss']:.5f}: "
            + ("better, so it serves in their place." if beats else "not better, so the priors keep serving.")
        )
    try:
        model = artifact.load(bytes(current.artifact), expected_sha256=current.artifact_sha256)
    except artifact.ArtifactError as exc:
        return True, f"The active v{current.number} cannot be served ({exc}); this one replaces it."
    their_tables = replace(
        model.tables,
        creative_clicks=tables.creative_clicks,
        ad_group_clicks=tables.ad_group_clicks,
        creative_conversions=tables.creative_conversions,
        ad_group_conversions=tables.ad_group_conversions,
    )
    theirs = metrics(y, model.predict(features.encode(holdout.inputs, their_tables)))
    result["compared_with"] = {"number": current.number, "label": f"v{current.number}", "holdout": theirs}
    beats = mine < theirs["log_loss"]
    return beats, (
        f"Log loss {mine:.5f} on this holdout against the active v{current.number}'s "
        f"{theirs['log_loss']:.5f}: "
        + ("better, so it replaces it." if beats else "not better, so it stays a candidate.")
    )


def prior_rates(kind: str, rows: dataset.Rows) -> np.ndarray:
    """What serving predicts without a model (delivery.scoring.PriorScorer): a rate per format."""
    priors = PriorScorer()
    table = priors.ctr_by_format if kind == "ctr" else priors.cvr_by_format
    fmt = rows.inputs.format
    return np.where(fmt >= 0, table[np.clip(fmt, 0, len(table) - 1)], float(table.mean()))


@dataclass(frozen=True, slots=True)
class Fitted:
    model_text: str
    best_iteration: int
    calibration: artifact.Calibration
    params: dict[str, Any]


def fit(X_train: np.ndarray, y_train: np.ndarray, X_cal: np.ndarray, y_cal: np.ndarray) -> Fitted:
    """LightGBM on the training rows, stopped early on the calibration rows, then Platt scaling of
    its raw score on them."""
    settings_used = params(int(y_train.sum()))
    train_set = lgb.Dataset(
        X_train,
        label=y_train.astype(np.float64),
        feature_name=list(features.NAMES),
        categorical_feature=list(features.CATEGORICAL),
        free_raw_data=True,
    )
    valid_set = lgb.Dataset(X_cal, label=y_cal.astype(np.float64), reference=train_set)
    booster = lgb.train(
        settings_used,
        train_set,
        num_boost_round=getattr(settings, "ML_MAX_ROUNDS", 600),
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(40, verbose=False)],
    )
    best = int(booster.best_iteration or booster.current_iteration())
    booster.free_dataset()
    raw = np.asarray(booster.predict(X_cal, raw_score=True, num_iteration=best), dtype=np.float64)
    calibration = platt(raw, y_cal, prior_weight=float(y_train.sum()))
    return Fitted(booster.model_to_string(num_iteration=best), best, calibration, settings_used)


def platt(raw: np.ndarray, label: np.ndarray, prior_weight: float) -> artifact.Calibration:
    """Platt scaling of raw scores on the calibration rows: p = sigmoid(a raw + b), by Newton's method
    on the log loss plus a Gaussian prior on (a, b) around (1, 0), no correction, of `prior_weight`.

    The model's own scores were fitted to the training rows' log loss: already calibrated there, on
    several times the calibration rows. fit() weighs that by the training positives, so that the
    correction follows the calibration rows (the latest) as far as their evidence goes beside the
    training rows', and does not chase the noise of a few hundred positives (a tenth of the rows
    carries a tenth of the evidence)."""
    if len(raw) == 0:
        return artifact.Calibration()
    x = np.column_stack([raw.astype(np.float64), np.ones(len(raw))])
    y = label.astype(np.float64)
    theta = np.array([1.0, 0.0])
    prior = np.array([1.0, 0.0])
    weight = max(prior_weight, 1.0)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -30.0, 30.0)))
        gradient = x.T @ (p - y) + weight * (theta - prior)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + weight * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-9:
            break
    return artifact.Calibration(float(theta[0]), float(theta[1]))


def _finite(value: Any) -> Any:
    """JSON without NaN or infinities (PostgreSQL's jsonb takes neither)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
