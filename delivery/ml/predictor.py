"""Raw scores of a LightGBM binary model, exact and fast for the 1-100 rows of one ad request.

`Predictor` calls LightGBM's own C library through ctypes, skipping `Booster.predict`'s Python layer
(argument checks, conversion, a new output array and parameter string per call), so its results are
LightGBM's bit for bit:

- up to `FAST_MAX_ROWS` rows: `LGBM_BoosterPredictForMatSingleRowFast`, one call per row, with a
  handle (FastConfig) made once per thread: a handle serialises its callers with a mutex (one handle
  shared by 2 threads ran at 0.7x of one thread), one per thread ran 2 threads at 1.95x;
- more rows: one `LGBM_BoosterPredictForMat` call with "num_threads=1". The booster takes a shared
  lock and each call builds its own predictor, so threads run side by side (1.8-2.0x on 2 threads)
  without a lock of ours. Each call re-sets the same iteration bounds in the booster (LightGBM
  #6142) and LightGBM's process-wide default thread count, as `Booster.predict(num_threads=1)` does.

Measured (LightGBM 4.7.0, 2-core machine, one thread, binary model of 300 trees x 63 leaves on 40
float64 features of which 8 categorical up to 200 values, with NaNs; the same 100,000 rows scored as
1,000 calls of 100 rows and as one call; microseconds):

    method                          100-row call  /row in 1 call  ratio  rows/s/core  1-row call
    Booster.predict(raw_score)         2,700          25.8        1.05     37,600         61
    C API PredictForMat                2,640          26.1        1.01     38,500         42
    C API SingleRowFast, per row       2,790          27.4        1.02     36,700         33
    lleaves 1.3.0, entry point           928           8.1        1.15    109,000         31
    tl2cgen 1.0 (treelite 4.8.1)       4,620          44.8        1.03     22,000        100

Default threads (2): Booster.predict takes 1,400 us per 100-row call on 2 cores, the same CPU.
Walking the trees costs ~26 us a row, so a call's overhead (35 us for Booster.predict, ~15 us here)
is ~1% of a 100-row call: every LightGBM path keeps under 1.2x the batch cost; this one wins most at
1 row (33 us against 61).

Compiled predictors, not kept. lleaves agrees (max |diff| 1.2e-14 over 100k rows with NaN, unseen,
negative and fractional categories, +-inf) but is 3.2x faster only in big batches: 2.9x at 100
rows, 1.8x at 10, 1.05x at 1 (under the 3x bar); compiling this model took 164 s (13 s with
finline=False, 2.8x), and lleaves 1.3.0, the newest on PyPI, fails with llvmlite >= 0.45 (lleaves
#95: no PassManagerBuilder) so it needs llvmlite 0.44 pinned. treelite + tl2cgen agree exactly but
are 1.7x slower than LightGBM and took 481 s to compile with gcc.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from lightgbm.basic import _LIB

# Calls up to this many rows go row by row through a per-thread FastConfig (1 row: 33 us against
# 42 us for PredictForMat); they break even at 5-10 rows, and PredictForMat is 7% faster at 100.
FAST_MAX_ROWS: Final = 4

_DTYPE_FLOAT64: Final = 1  # C_API_DTYPE_FLOAT64
_PREDICT_RAW_SCORE: Final = 1  # C_API_PREDICT_RAW_SCORE
_PARAMETERS: Final = b"num_threads=1"

# Our own function objects on the library lightgbm has loaded (dlopen returns the same one), so
# that declaring argument types here leaves lightgbm's own calls untouched.
_lib = ctypes.CDLL(_LIB._name)
_p, _i32, _i = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int
_lib.LGBM_GetLastError.restype = ctypes.c_char_p
_lib.LGBM_BoosterLoadModelFromString.argtypes = [ctypes.c_char_p, _p, _p]
_lib.LGBM_BoosterFree.argtypes = [_p]
_lib.LGBM_BoosterGetNumFeature.argtypes = [_p, _p]
_lib.LGBM_BoosterGetNumClasses.argtypes = [_p, _p]
_lib.LGBM_BoosterPredictForMat.argtypes = [_p, _p, _i, _i32, _i32, _i, _i, _i, _i, ctypes.c_char_p, _p, _p]
_lib.LGBM_BoosterPredictForMatSingleRowFastInit.argtypes = [_p, _i, _i, _i, _i, _i32, ctypes.c_char_p, _p]
_lib.LGBM_BoosterPredictForMatSingleRowFast.argtypes = [_p, _p, _p, _p]
_lib.LGBM_FastConfigFree.argtypes = [_p]
_predict_mat = _lib.LGBM_BoosterPredictForMat
_predict_row = _lib.LGBM_BoosterPredictForMatSingleRowFast


def _check(code: int) -> None:
    if code != 0:
        raise RuntimeError(f"LightGBM: {_lib.LGBM_GetLastError().decode(errors='replace')}")


class _Booster:
    """Owns a booster handle; freed when the last user (Predictor, per-thread handles) is gone."""

    handle: int = 0

    def __init__(self, model_str: str) -> None:
        handle, iterations = ctypes.c_void_p(), ctypes.c_int()
        code = _lib.LGBM_BoosterLoadModelFromString(
            model_str.encode(), ctypes.byref(iterations), ctypes.byref(handle)
        )
        if code != 0 or not handle.value:
            raise ValueError(
                f"LightGBM cannot load the model: {_lib.LGBM_GetLastError().decode(errors='replace')}"
            )
        self.handle = handle.value

    def get(self, function: str) -> int:
        out = ctypes.c_int()
        _check(getattr(_lib, function)(self.handle, ctypes.byref(out)))
        return out.value

    def __del__(self, free: Any = _lib.LGBM_BoosterFree) -> None:
        # `free` is bound when the class is made: at interpreter exit the module's globals may be
        # gone before the last handles are collected.
        if self.handle:
            free(self.handle)


class _RowHandle:
    """One thread's FastConfig for single-row prediction, with its own output-length cell."""

    handle: int = 0

    def __init__(self, booster: _Booster, num_features: int) -> None:
        self.booster = booster  # keeps the booster alive while this handle exists
        handle = ctypes.c_void_p()
        _check(
            _lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster.handle,
                _PREDICT_RAW_SCORE,
                0,
                -1,
                _DTYPE_FLOAT64,
                num_features,
                _PARAMETERS,
                ctypes.byref(handle),
            )
        )
        self.handle = handle.value or 0
        self.out_len = ctypes.c_int64()
        self.out_len_address: int = ctypes.addressof(self.out_len)

    def __del__(self, free: Any = _lib.LGBM_FastConfigFree) -> None:
        if self.handle:
            free(self.handle)


class Predictor:
    """Raw scores (log-odds) of a LightGBM binary model, fast for small batches."""

    def __init__(self, model_str: str) -> None:
        self._booster = _Booster(model_str)
        classes = self._booster.get("LGBM_BoosterGetNumClasses")
        if classes != 1:
            raise ValueError(
                f"expected a model with one score per row (binary), this one has {classes} classes"
            )
        self._num_features: int = self._booster.get("LGBM_BoosterGetNumFeature")
        self._row_bytes = self._num_features * 8
        self._local = threading.local()

    @property
    def num_features(self) -> int:
        return self._num_features

    def _row_handle(self) -> _RowHandle:
        handle: _RowHandle | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = self._local.handle = _RowHandle(self._booster, self._num_features)
        return handle

    def raw(self, X: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Raw scores of the rows of X (n, num_features), equal to Booster.predict(X, raw_score=True)."""
        X = np.ascontiguousarray(X, dtype=np.float64)  # no copy when X is already so
        if X.ndim != 2 or X.shape[1] != self._num_features:
            raise ValueError(
                f"X must have shape (n, {self._num_features}): the model takes {self._num_features} "
                f"features, got an array of shape {X.shape}"
            )
        n = X.shape[0]
        out = np.empty(n, dtype=np.float64)
        if n == 0:
            return out
        data, result = X.ctypes.data, out.ctypes.data
        if n <= FAST_MAX_ROWS:
            row = self._row_handle()
            for i in range(n):
                _check(
                    _predict_row(row.handle, data + i * self._row_bytes, row.out_len_address, result + i * 8)
                )
        else:
            out_len = ctypes.c_int64()
            booster, columns = self._booster.handle, self._num_features
            # row-major float64 rows, raw scores, from the first iteration to the last (-1)
            code = _predict_mat(
                booster, data, _DTYPE_FLOAT64, n, columns, 1, _PREDICT_RAW_SCORE, 0, -1, _PARAMETERS,
                ctypes.byref(out_len), result,
            )  # fmt: skip
            _check(code)
        return out
