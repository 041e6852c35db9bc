"""fmwidget.pooling: pooling windows and max-pool winners, checked against numpy."""

from __future__ import annotations

import keras
import numpy as np
from helpers import L

import fmwidget
from fmwidget import pooling


def test_pool_argmax_nan_and_ties_follow_numpy() -> None:
    """NaN wins like np.argmax (first NaN); equal values go to the first cell (1D, clipped)."""
    model = keras.Sequential(
        [keras.Input((31, 2)), L.MaxPooling1D(3, strides=2, padding="same", name="p")]
    )
    x = np.ones((31, 2), "float32")
    x[5:7, 1] = np.nan
    x[20:, 0] = np.arange(11) % 3  # repeated maxima inside overlapping windows
    fm = fmwidget.extract(model, x)
    local = pooling.pool_argmax(fm, "p")
    rows, cols = pooling.pool_windows(fm, "p")
    assert rows.tolist() == [[0, 1]] and local.shape == (2, 1, 16)
    for c in range(cols.shape[0]):
        for ch in range(2):
            k = int(local[ch, 0, c])
            assert (cols[c, 0] + k,) == fm.pool_source("p", (c,), ch), (c, ch)
    # windows [3, 6) and [5, 8) both hold NaN at 5 (and at 6): the first NaN wins
    assert (cols[2, 0] + local[1, 0, 2], cols[3, 0] + local[1, 0, 3]) == (5, 5)
