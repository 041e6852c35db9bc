"""The trace chain and the convolution arithmetic agree with Keras's own numbers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.trace import conv_arithmetic, trace

BACKEND = keras.backend.backend()


def chain_model(data_format="channels_last"):
    shape = (11, 11, 3) if data_format == "channels_last" else (3, 11, 11)
    axis = -1 if data_format == "channels_last" else 1
    kw = {"data_format": data_format}
    inp = keras.Input(shape)
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c1", **kw)(inp)
    x = L.MaxPooling2D(2, name="p1", **kw)(x)
    x = L.Conv2D(6, 3, strides=2, dilation_rate=1, padding="same", name="c2", **kw)(x)
    x = L.BatchNormalization(axis=axis, name="bn")(x)
    x = L.ReLU(name="r2")(x)
    x = L.MaxPooling2D(2, strides=1, padding="same", name="p2", **kw)(x)
    return keras.Model(inp, x)


def value(fm, name, sample, ch, pos, pre=False):
    arr = fm.pre_activation(name) if pre else fm[name]
    if fm.info(name).data_format == "channels_first":
        return arr[(sample, ch, *pos)]
    return arr[(sample, *pos, ch)]


@pytest.mark.parametrize(
    "data_format",
    [
        "channels_last",
        pytest.param(
            "channels_first",
            marks=pytest.mark.skipif(
                BACKEND == "tensorflow",
                reason="TensorFlow's CPU kernels do not implement channels_first Conv2D",
            ),
        ),
    ],
)
def test_conv_arithmetic_sums_to_the_pre_activation_everywhere(data_format):
    model = chain_model(data_format)
    x = np.random.rand(2, *model.inputs[0].shape[1:]).astype("float32") - 0.3
    fm = fmwidget.extract(model, x)
    for name, pre in (("c1", True), ("c2", False)):
        info = fm.info(name)
        for sample in range(2):
            for pos in np.ndindex(*info.spatial_shape):  # borders exercise the padding
                for ch in range(info.channels):
                    got = conv_arithmetic(fm, name, ch, pos, sample, top=2)
                    want = value(fm, name, sample, ch, pos, pre=pre)
                    assert got["total"] == pytest.approx(float(want), rel=1e-4, abs=1e-5)
                    assert got["n_channels"] == (3 if name == "c1" else 4)
                    shown = sum(t["contribution"] for t in got["terms"])
                    assert shown + got["others"] + got["bias"] == pytest.approx(got["total"])


def test_conv_arithmetic_terms_are_window_times_kernel():
    model = chain_model()
    fm = fmwidget.extract(model, np.random.rand(11, 11, 3).astype("float32"))
    got = conv_arithmetic(fm, "c1", 2, (0, 5))  # top row: one row of padding
    kernel = keras.ops.convert_to_numpy(model.get_layer("c1").kernel)
    assert got["n_channels"] == 3 and len(got["terms"]) == 3
    for term in got["terms"]:
        window = np.array(term["window"])
        assert window.shape == (3, 3)
        assert np.all(window[0] == 0)  # the padding row
        np.testing.assert_array_equal(window[1:], fm["input"][0, 0:2, 4:7, term["channel"]])
        np.testing.assert_allclose(term["kernel"], kernel[:, :, term["channel"], 2])
        assert term["contribution"] == pytest.approx(float((window * term["kernel"]).sum()))
    contributions = [abs(t["contribution"]) for t in got["terms"]]
    assert contributions == sorted(contributions, reverse=True)


def test_grouped_convolution_arithmetic():
    inp = keras.Input((6, 6, 4))
    out = L.Conv2D(6, 3, groups=2, name="g")(inp)
    fm = fmwidget.extract(keras.Model(inp, out), np.random.rand(6, 6, 4).astype("float32"))
    for ch in range(6):
        got = conv_arithmetic(fm, "g", ch, (1, 2))
        assert {t["channel"] for t in got["terms"]} == ({0, 1} if ch < 3 else {2, 3})
        assert got["total"] == pytest.approx(float(fm["g"][0, 1, 2, ch]), rel=1e-4, abs=1e-5)


def test_trace_chain_from_a_relu_cell():
    model = chain_model()
    fm = fmwidget.extract(model, np.random.rand(11, 11, 3).astype("float32"))
    pos, ch = (1, 2), 3
    t = trace(fm, "r2", ch, pos)
    kinds = [(s["layer"], s["kind"]) for s in t["steps"]]
    assert kinds == [("c2", "conv"), ("bn", "batch_norm"), ("r2", "activation"), ("p2", "pooling")]
    pool = t["steps"][3]
    cell = (pool["row"], pool["col"])
    assert fm.cells_reading("p2", pos)[cell]  # the pooled cell's window holds our cell
    assert pool["value"] == pytest.approx(float(fm["p2"][0, cell[0], cell[1], ch]))
    src = fm.pool_source("p2", cell, ch)
    assert (pool["argmax"]["row"], pool["argmax"]["col"]) == src
    assert fm["r2"][0, src[0], src[1], ch] == fm["p2"][0, cell[0], cell[1], ch]
    for step in t["steps"][:3]:  # the cell that fed the pooled value (tests/test_trace_chain.py)
        assert (step["row"], step["col"]) == src
        assert step["value"] == pytest.approx(float(fm[step["layer"]][(0, *src, ch)]))
    assert t["clicked"] == {
        "layer": "r2",
        "filter": ch,
        "row": 1,
        "col": 2,
        "value": float(fm["r2"][0, 1, 2, ch]),
    }
    rf = fm.receptive_field("r2", pos)  # the top-level field is the clicked cell's
    assert t["receptive_field"] == {
        "row0": rf[0].start,
        "row1": rf[0].stop,
        "col0": rf[1].start,
        "col1": rf[1].stop,
    }
    assert t["conv"]["layer"] == "c2"
    assert t["conv"]["total"] == pytest.approx(float(fm["c2"][(0, *src, ch)]), rel=1e-4, abs=1e-5)


def test_trace_from_a_pooled_cell_follows_the_winner_back_through_a_fused_relu():
    model = chain_model()
    fm = fmwidget.extract(model, np.random.rand(11, 11, 3).astype("float32"))
    t = trace(fm, "p1", 1, (2, 3))
    steps = t["steps"]
    assert [(s["layer"], s["kind"]) for s in steps] == [
        ("c1", "conv"),
        ("c1", "activation"),
        ("p1", "pooling"),
    ]
    src = fm.pool_source("p1", (2, 3), 1)
    assert (steps[0]["row"], steps[0]["col"]) == src
    assert steps[0]["pre_activation"] and steps[1]["fused"]
    assert steps[0]["value"] == pytest.approx(float(fm.pre_activation("c1")[(0, *src, 1)]))
    assert steps[1]["value"] == max(steps[0]["value"], 0.0)
    assert steps[2]["value"] == pytest.approx(float(fm["p1"][0, 2, 3, 1]))
    assert steps[2]["window"] == {"row0": 4, "row1": 6, "col0": 6, "col1": 8}


def test_trace_rejects_bad_cells():
    fm = fmwidget.extract(chain_model(), np.random.rand(11, 11, 3).astype("float32"))
    with pytest.raises(ValueError, match=r"filter in range\(0, 4\), received 4"):
        trace(fm, "c1", 4, (0, 0))
    with pytest.raises(ValueError, match=r"inside the \(11, 11\) map"):
        trace(fm, "c1", 0, (11, 0))
