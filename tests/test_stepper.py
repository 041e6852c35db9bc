"""The data behind the animated step-through: exact taps, every kind of convolution.

The browser animates ``trace()["conv"]``: each term is the input window at the layer's
kernel taps times the kernel, and the terms plus the bias are Keras's pre-activation value.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.trace import conv_arithmetic, trace


def stepper_model():
    inp = keras.Input((13, 13, 4))
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw")(inp)
    x = L.Conv2D(6, 3, strides=2, dilation_rate=1, padding="same", groups=2, name="grp")(x)
    x = L.Conv2D(5, 3, dilation_rate=2, activation="relu", name="dil")(x)
    return keras.Model(inp, x)


@pytest.fixture(scope="module")
def fm():
    keras.utils.set_random_seed(3)
    x = np.random.default_rng(0).normal(size=(13, 13, 4)).astype("float32")
    return fmwidget.extract(stepper_model(), x)


def _pre(fm, name, ch, pos):
    info = fm.info(name)
    arr = fm.pre_activation(name) if info.fused_activation else fm[name]
    return float(arr[(0, *pos, ch)])


@pytest.mark.parametrize(
    ("name", "cells"),
    [
        ("dw", [(0, 0), (6, 7), (12, 12)]),
        ("grp", [(0, 0), (3, 4), (6, 6)]),
        ("dil", [(0, 0), (1, 2), (2, 2)]),
    ],
)
def test_terms_at_the_exact_taps_sum_to_keras(fm, name, cells):
    info = fm.info(name)
    layer = fm.keras_layer(name)
    src = fm[info.inputs[0]][0]
    depthwise = info.kind == "depthwise_conv"
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
    for pos in cells:
        for ch in range(info.channels):
            got = conv_arithmetic(fm, name, ch, pos, top=100)
            assert got is not None
            # every term, in the order shown, from numpy on the taps the geometry gives
            rows, cols = (np.array(v) for v in (got["taps"]["rows"], got["taps"]["cols"]))
            assert list(rows) == list(fm.window_taps(name, pos)[0])
            assert list(cols) == list(fm.window_taps(name, pos)[1])
            expected = {}
            for term in got["terms"]:
                ci = term["channel"]
                win = np.zeros((len(rows), len(cols)))
                for a, r in enumerate(rows):
                    for b, c in enumerate(cols):
                        if r >= 0 and c >= 0:
                            win[a, b] = src[r, c, ci]
                if depthwise:
                    mult = kernel.shape[3]
                    assert ci == ch // mult
                    k = kernel[:, :, ci, ch % mult]
                else:
                    per = kernel.shape[2]
                    k = kernel[:, :, ci % per, ch]
                np.testing.assert_allclose(term["window"], win, rtol=0, atol=0)
                np.testing.assert_allclose(term["kernel"], k, rtol=1e-7)
                expected[ci] = float((win * k).sum())
                assert term["contribution"] == pytest.approx(expected[ci], abs=1e-5)
            assert got["n_channels"] == (1 if depthwise else kernel.shape[2])
            assert got["source"] == info.inputs[0]
            total = sum(expected.values()) + got["bias"]
            assert total == pytest.approx(_pre(fm, name, ch, pos), rel=1e-4, abs=1e-4)
            assert got["total"] == pytest.approx(_pre(fm, name, ch, pos), rel=1e-4, abs=1e-4)


def test_dilated_taps_skip_cells(fm):
    got = conv_arithmetic(fm, "dil", 0, (1, 2))
    assert got["taps"] == {"rows": [1, 3, 5], "cols": [2, 4, 6]}


def test_trace_of_a_depthwise_cell_carries_its_arithmetic(fm):
    t = trace(fm, "dw", 5, (6, 7))
    assert t["conv"] is not None and t["conv"]["layer"] == "dw"
    assert [term["channel"] for term in t["conv"]["terms"]] == [2]


def test_origin_strides_and_dilation_place_the_window_of_every_other_cell(fm):
    """The browser slides the window from these numbers: they must give every cell's taps."""
    for name in ("dw", "grp", "dil"):
        info = fm.info(name)
        h, w = fm.info(info.inputs[0]).spatial_shape
        for base in [(0, 0), (1, 2)]:
            got = conv_arithmetic(fm, name, 0, base)
            assert got["output"] == list(info.spatial_shape)
            (r0, c0), (sr, sc), (dr, dc) = got["origin"], got["strides"], got["dilation"]
            n_r, n_c = len(got["taps"]["rows"]), len(got["taps"]["cols"])
            for r in range(info.spatial_shape[0]):
                for c in range(info.spatial_shape[1]):
                    rows, cols = fm.window_taps(name, (r, c))
                    vr = r0 + (r - base[0]) * sr + dr * np.arange(n_r)
                    vc = c0 + (c - base[1]) * sc + dc * np.arange(n_c)
                    np.testing.assert_array_equal(np.where((vr < 0) | (vr >= h), -1, vr), rows)
                    np.testing.assert_array_equal(np.where((vc < 0) | (vc >= w), -1, vc), cols)
