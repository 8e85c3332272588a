"""A trained model as bytes (kept in ModelVersion.artifact), and loading it back with every check.

The artifact is zlib-compressed JSON: the kind, the feature specification it was trained on, the
feature tables (delivery.ml.features.Tables), the calibration of its raw scores, and the LightGBM
model as LightGBM's own text. Loading refuses, with `ArtifactError` saying why, bytes whose hash is
not the one recorded, bytes that are not an artifact, a model trained on another feature
specification than the serving code's, a LightGBM model that does not load or does not take the
specification's features, and one whose predictions are not finite. The caller keeps serving what it
had (delivery.ml.serving).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from delivery.ml import features
from delivery.ml.predictor import Predictor

FORMAT = 1
# Predictions are kept inside these bounds: never exactly 0 (an ad would never be ranked again by
# value) nor 1.
P_MIN, P_MAX = 1e-6, 1.0 - 1e-6


class ArtifactError(ValueError):
    """Bytes that cannot be served as a model, and why."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt scaling of the model's raw score: p = sigmoid(slope * raw + intercept)."""

    slope: float = 1.0
    intercept: float = 0.0

    def apply(self, raw: np.ndarray) -> np.ndarray:
        z = np.clip(self.slope * raw + self.intercept, -30.0, 30.0)
        return np.clip(1.0 / (1.0 + np.exp(-z)), P_MIN, P_MAX)

    def as_json(self) -> dict[str, Any]:
        return {"method": "platt", "slope": self.slope, "intercept": self.intercept}


@dataclass(frozen=True, slots=True)
class Model:
    """A loaded model: features' tables, LightGBM and calibration, ready to predict."""

    kind: str
    tables: features.Tables
    calibration: Calibration
    predictor: Predictor
    model_text: str

    def raw(self, X: np.ndarray) -> np.ndarray:
        return self.predictor.raw(np.ascontiguousarray(X, dtype=np.float64))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities; a row whose score is not finite gets the overall rate."""
        p = self.calibration.apply(self.raw(X))
        bad = ~np.isfinite(p)
        if bad.any():
            p[bad] = self.tables.ctr if self.kind == "ctr" else self.tables.cvr
        return p


def dump(kind: str, tables: features.Tables, calibration: Calibration, model_text: str) -> bytes:
    document = {
        "format": FORMAT,
        "kind": kind,
        "spec": features.spec(),
        "spec_fingerprint": features.SPEC,
        "tables": tables.as_json(),
        "calibration": calibration.as_json(),
        "booster": model_text,
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), level=6)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(data: bytes, *, expected_sha256: str | None = None) -> Model:
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise ArtifactError("the stored model's bytes do not match their recorded SHA-256: it is corrupt")
    try:
        document = json.loads(zlib.decompress(data))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"not a model artifact ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ArtifactError(f"not a model artifact of format {FORMAT}")
    if document.get("spec_fingerprint") != features.SPEC:
        names = document.get("spec", {}).get("names") if isinstance(document.get("spec"), dict) else None
        raise ArtifactError(
            "trained on another feature specification than the serving code's "
            f"(model: {str(document.get('spec_fingerprint'))[:12]}, {len(names or [])} features; "
            f"serving: {features.SPEC[:12]}, {len(features.NAMES)} features); train a new version"
        )
    kind = document.get("kind")
    if kind not in ("ctr", "cvr"):
        raise ArtifactError(f"unknown model kind {kind!r}")
    try:
        tables = features.Tables.from_json(document["tables"])
        raw_calibration = document["calibration"]
        calibration = Calibration(float(raw_calibration["slope"]), float(raw_calibration["intercept"]))
        model_text = str(document["booster"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"the artifact is incomplete ({exc!r})") from None
    if not (np.isfinite(calibration.slope) and np.isfinite(calibration.intercept)):
        raise ArtifactError("the calibration is not finite")
    try:
        predictor = Predictor(model_text)
    except Exception as exc:
        raise ArtifactError(f"LightGBM cannot load the model ({exc})") from None
    if predictor.num_features != len(features.NAMES):
        raise ArtifactError(
            f"the LightGBM model takes {predictor.num_features} features, the specification has "
            f"{len(features.NAMES)}"
        )
    model = Model(kind, tables, calibration, predictor, model_text)
    probe = np.full((2, len(features.NAMES)), np.nan)
    probe[1, :] = 0.0
    if not np.isfinite(model.raw(probe)).all():
        raise ArtifactError("the model's predictions are not finite")
    return model
