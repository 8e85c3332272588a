"""delivery.ml.predictor: the fast predictor gives LightGBM's own raw scores, on both of its paths."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pytest

from delivery.ml.predictor import FAST_MAX_ROWS, Predictor

NUM_FEATURES = 6
CATEGORICAL = [4, 5]  # 30 and 8 categories at training time


def _rows(rng: np.random.Generator, n: int, *, unseen: bool) -> np.ndarray:
    X = rng.normal(size=(n, NUM_FEATURES))
    X[:, 4] = rng.integers(0, 30, size=n)
    X[:, 5] = rng.integers(0, 8, size=n)
    X[rng.random(n) < 0.05, 0] = np.nan
    X[rng.random(n) < 0.05, 4] = np.nan
    if unseen:  # categories never seen, negative (missing for LightGBM), fractional; infinities
        mask = rng.random(n) < 0.1
        X[mask, 4] = rng.choice([30.0, 57.0, 1000.0, -1.0, 2.5], size=mask.sum())
        mask = rng.random(n) < 0.1
        X[mask, 5] = rng.choice([8.0, 99.0, -3.0, 6.7, np.nan], size=mask.sum())
        X[rng.random(n) < 0.02, 1] = np.inf
        X[rng.random(n) < 0.02, 2] = -np.inf
    return X


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(3)
    X = _rows(rng, 3000, unseen=False)
    logit = X[:, 1] - 0.5 * X[:, 2] + np.nan_to_num(X[:, 0]) + np.sin(np.nan_to_num(X[:, 4]))
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": 15,
        "min_data_in_leaf": 10,
        "verbose": -1,
        "num_threads": 1,
    }
    data = lgb.Dataset(X, y, categorical_feature=CATEGORICAL)
    return lgb.train(params, data, num_boost_round=30)


@pytest.fixture(scope="module")
def predictor(booster: lgb.Booster) -> Predictor:
    return Predictor(booster.model_to_string())


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return _rows(np.random.default_rng(11), 2000, unseen=True)


def test_equal_to_booster_predict_on_both_paths(booster, predictor, rows):
    assert predictor.num_features == NUM_FEATURES
    expected = booster.predict(rows, raw_score=True)
    for n in (1, 2, FAST_MAX_ROWS, FAST_MAX_ROWS + 1, 37, 100, len(rows)):
        got = np.concatenate([predictor.raw(rows[i : i + n]) for i in range(0, len(rows), n)])
        assert got.dtype == np.float64
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=f"calls of {n} rows")


def test_rows_with_nan_and_unseen_categories_are_scored_like_lightgbm(booster, predictor):
    row = np.zeros((1, NUM_FEATURES))
    for value in (np.nan, 30.0, 1e6, -1.0, 3.5):
        row[0, 4] = value
        assert predictor.raw(row)[0] == pytest.approx(booster.predict(row, raw_score=True)[0], abs=1e-9)


def test_one_row_and_zero_rows(booster, predictor, rows):
    one = predictor.raw(rows[:1])
    assert one.shape == (1,)
    assert one[0] == pytest.approx(booster.predict(rows[:1], raw_score=True)[0], abs=1e-9)
    empty = predictor.raw(np.empty((0, NUM_FEATURES)))
    assert empty.shape == (0,)
    assert empty.dtype == np.float64


def test_other_layouts_and_dtypes_are_converted(booster, predictor, rows):
    for X in (np.asfortranarray(rows[:50]), rows[:100:2], rows[:50].astype(np.float32)):
        expected = booster.predict(np.ascontiguousarray(X, dtype=np.float64), raw_score=True)
        np.testing.assert_allclose(predictor.raw(X), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", [(3, NUM_FEATURES + 1), (3, NUM_FEATURES - 1), (1, 0), (NUM_FEATURES,)])
def test_wrong_number_of_columns_raises(predictor, shape):
    with pytest.raises(ValueError, match=f"the model takes {NUM_FEATURES} features"):
        predictor.raw(np.zeros(shape))


def test_a_model_that_does_not_load_raises_value_error():
    with pytest.raises(ValueError, match="cannot load"):
        Predictor("not a LightGBM model")


def test_concurrent_use_from_four_threads(booster, predictor, rows):
    expected = booster.predict(rows, raw_score=True)
    sizes = [1, 3, FAST_MAX_ROWS, FAST_MAX_ROWS + 1, 100]
    start = threading.Barrier(4)

    def work(k: int) -> list[tuple[int, np.ndarray]]:
        start.wait()
        out: list[tuple[int, np.ndarray]] = []
        for repeat in range(3):
            n = sizes[(k + repeat) % len(sizes)]
            out.extend((i, predictor.raw(rows[i : i + n])) for i in range(0, len(rows), n))
        return out

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(4)))
    for result in results:
        for i, got in result:
            np.testing.assert_allclose(got, expected[i : i + len(got)], rtol=0, atol=1e-9)
