"""Raw scores of a LightGBM binary model (placeholder until the fast predictor lands)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np


class Predictor:
    def __init__(self, model_str: str) -> None:
        self.booster = lgb.Booster(model_str=model_str)

    @property
    def num_features(self) -> int:
        return int(self.booster.num_feature())

    def raw(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} feature columns, got {X.shape}")
        if len(X) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(X, raw_score=True, num_threads=1), dtype=np.float64)
