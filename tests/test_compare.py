"""Compare two inputs: the per-layer change figures equal numpy's on extract() of both."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.compare import compare_message, relative_change, shift_input


def small_model():
    keras.utils.set_random_seed(4)
    return keras.Sequential(
        [
            keras.Input((12, 12, 2)),
            L.Conv2D(3, 3, padding="same", activation="relu", name="c1"),
            L.MaxPooling2D(2, name="p1"),
            L.Flatten(name="flat"),
            L.Dense(2, name="out"),
        ]
    )


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(5)
    return rng.normal(size=(12, 12, 2)).astype("float32"), rng.normal(size=(12, 12, 2)).astype(
        "float32"
    )


def test_shift_input_moves_pixels_and_fills_zeros():
    x = np.arange(2 * 4 * 5 * 1, dtype="float32").reshape(2, 4, 5, 1)
    y = shift_input(x, 1, -2)
    np.testing.assert_array_equal(y[:, 1:, :3], x[:, :3, 2:])
    assert not y[:, 0].any() and not y[:, :, 3:].any()
    cf = shift_input(np.moveaxis(x, -1, 1), 1, -2, "channels_first")
    np.testing.assert_array_equal(np.moveaxis(cf, 1, -1), y)
    assert not shift_input(x[0], 4, 0).any()
    with pytest.raises(TypeError, match="Expected an int dy"):
        shift_input(x, 0.5, 0)
    with pytest.raises(ValueError, match="Expected an image"):
        shift_input(x[0, 0], 1, 1)


def test_widget_compare_changes_equal_numpy(inputs):
    x, x2 = inputs
    model = small_model()
    w = fmwidget.FeatureMapWidget(model, x, view="grid")
    changes = w.compare(x2, label="noise")
    fa, fb = fmwidget.extract(model, x), fmwidget.extract(model, x2)
    names = [c["layer"] for c in changes]
    assert names == ["input", "c1", "p1"]  # spatial layers only
    for c in changes:
        a, b = fa[c["layer"]][0].astype(np.float64), fb[c["layer"]][0].astype(np.float64)
        want = np.linalg.norm(b - a) / np.linalg.norm(a)
        assert c["change"] == pytest.approx(want, rel=1e-6)
    assert w.view == "compare"
    assert w.comparison["label"] == "noise"
    assert [c["change"] for c in w.comparison["changes"]] == [c["change"] for c in changes]


def test_compare_with_a_shift_equals_numpy_on_the_shifted_input(inputs):
    x, _ = inputs
    x = np.zeros_like(x)
    x[3:9, 4:8, :] = 1.0  # a blob well inside the border
    w = fmwidget.FeatureMapWidget(small_model(), x, view="grid")
    changes = {c["layer"]: c["change"] for c in w.compare(shift=(0, 1))}
    fa = fmwidget.extract(w.model, x)
    fb = fmwidget.extract(w.model, shift_input(x, 0, 1))
    for name in changes:
        assert changes[name] == pytest.approx(relative_change(fa[name][0], fb[name][0]))
    assert w.comparison["shift"] == [0, 1]
    assert "shifted by (0, 1)" in w.comparison["label"]


def test_get_compare_reply_holds_both_maps(inputs):
    x, x2 = inputs
    model = small_model()
    w = fmwidget.FeatureMapWidget(model, x, view="grid")
    w.compare(x2)
    sent = []
    w.send = lambda msg, buffers=None: sent.append((msg, buffers))
    w._on_msg(w, {"type": "get_compare", "layer": "c1", "start": 1, "request_id": 7}, [])
    del w.send
    msg, (buf,) = sent[0]
    assert msg["type"] == "compare_data" and msg["request_id"] == 7
    assert (msg["start"], msg["stop"], msg["height"], msg["width"]) == (1, 3, 12, 12)
    vals = np.frombuffer(buf, "<f4").reshape(2, 2, 12, 12)
    fa, fb = fmwidget.extract(model, x), fmwidget.extract(model, x2)
    np.testing.assert_array_equal(vals[0], np.moveaxis(fa["c1"][0], -1, 0)[1:3])
    np.testing.assert_array_equal(vals[1], np.moveaxis(fb["c1"][0], -1, 0)[1:3])


def test_compare_refuses_bad_input_and_keeps_working(inputs):
    x, _ = inputs
    w = fmwidget.FeatureMapWidget(small_model(), x, view="grid")
    with pytest.raises(ValueError, match="exactly one of x2"):
        w.compare()
    with pytest.raises(ValueError, match=r"\(12, 12, 2\)"):
        w.compare(np.zeros((10, 10, 2), "float32"))
    sent = []
    w.send = lambda msg, buffers=None: sent.append(msg)
    w._on_msg(w, {"type": "get_compare", "layer": "c1", "start": 0, "request_id": 1}, [])
    assert sent[-1]["type"] == "error" and "w.compare" in sent[-1]["message"]
    w.compare_shift = [1, 0]  # what the browser's control sets
    del w.send
    assert w.comparison["shift"] == [1, 0] and w.view == "compare"
    w.set_input(x)  # a new input: the comparison no longer applies
    assert w.comparison is None and w.view == "grid"
    with pytest.raises(ValueError, match="start in range"):
        compare_message(w.fm, w.fm, "c1", 3)
