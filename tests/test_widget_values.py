"""Hard values through the widget: NaN/±Inf, constant and all-zero maps, 1e30, and
float16/bfloat16 (mixed-precision) models."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.encode import decode_map
from fmwidget.replies import global_range


def capture(w):
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def get_layer(w, name, **extra):
    w._handle_custom_msg({"type": "get_layer", "layer": name, "request_id": 1, **extra}, [])
    reply, buffers = w.sent[-1]
    assert reply["type"] == "layer_data", reply
    json.dumps(reply, allow_nan=False)  # Jupyter's session refuses NaN in JSON
    return reply, decode_map(reply, bytes(buffers[0]))


def synced_json(w):
    """The synced traits as Jupyter would serialise them (NaN/Inf would raise)."""
    state = {k: getattr(w, k) for k in ("layers", "hover", "trace_target", "model_name")}
    return json.loads(json.dumps(state, allow_nan=False))


def signs_model(bias=0.0, scale=1.0, name="signs"):
    """1x1 conv: channel 0 = scale * x + bias, channel 1 = -scale * x + bias; then pooling."""
    inp = keras.Input((6, 6, 1))
    conv = L.Conv2D(2, 1, name="c")
    x = conv(inp)
    x = L.MaxPooling2D(2, name="p")(x)
    model = keras.Model(inp, x, name=name)
    conv.set_weights(
        [np.array([scale, -scale], "float32").reshape(1, 1, 1, 2), np.full(2, bias, "float32")]
    )
    return model


@pytest.fixture(scope="module")
def nonfinite():
    x = np.linspace(-1, 1, 36, dtype="float32").reshape(6, 6, 1)
    x[0, 0, 0], x[2, 3, 0], x[4, 4, 0] = np.nan, np.inf, -np.inf
    return capture(fmwidget.FeatureMapWidget(signs_model(), x)), x


def test_nan_and_inf_are_ignored_by_the_statistics(nonfinite):
    w, x = nonfinite
    layers = synced_json(w)["layers"]
    finite = x[np.isfinite(x)]
    conv = layers[w.fm.names.index("c")]
    assert conv["min"] == pytest.approx(-1.0) and conv["max"] == pytest.approx(1.0)
    assert conv["signed"] is True
    assert layers[0]["min"] == pytest.approx(finite.min())
    assert all(np.isfinite([d["min"], d["max"]]).all() for d in layers)
    assert np.isfinite(global_range(w.layers)).all()


def test_nan_and_inf_arrive_as_such(nonfinite):
    w, _ = nonfinite
    reply, got = get_layer(w, "c")
    assert (reply["min"], reply["max"]) == (pytest.approx(-1.0), pytest.approx(1.0))
    assert np.isnan(got[0, 0, 0]) and np.isnan(got[1, 0, 0])
    assert got[0, 2, 3] == np.inf and got[1, 2, 3] == -np.inf
    assert got[0, 4, 4] == -np.inf and got[1, 4, 4] == np.inf
    ok = np.isfinite(np.moveaxis(w.fm["c"][0], -1, 0))
    assert ok.sum() == 2 * 33
    np.testing.assert_allclose(got[ok], np.moveaxis(w.fm["c"][0], -1, 0)[ok], rtol=2**-11)


def test_trace_of_a_nan_cell_is_valid_json(nonfinite):
    w, _ = nonfinite
    w._handle_custom_msg(
        {"type": "get_trace", "layer": "c", "filter": 0, "row": 0, "col": 0, "request_id": 2}, []
    )
    reply, _ = w.sent[-1]
    assert reply["type"] == "trace", reply
    text = json.dumps(reply, allow_nan=False)
    assert reply["steps"][0]["value"] == "NaN" and '"NaN"' in text
    w._handle_custom_msg(
        {"type": "get_trace", "layer": "c", "filter": 1, "row": 2, "col": 3, "request_id": 3}, []
    )
    reply, _ = w.sent[-1]
    # -inf lost its max-pool window: the chain shows the winner, the clicked cell keeps -inf
    assert reply["clicked"]["value"] == "-Infinity"
    assert reply["steps"][0]["value"] == reply["steps"][-1]["value"] == float(w.fm["p"][0, 1, 1, 1])
    assert "You clicked (2, 3) of c" in reply["note"]
    json.dumps(reply, allow_nan=False)
    w._handle_custom_msg(
        {"type": "get_trace", "layer": "c", "filter": 1, "row": 4, "col": 4, "request_id": 4}, []
    )
    reply, _ = w.sent[-1]
    assert reply["steps"][0]["value"] == reply["clicked"]["value"] == "Infinity"
    assert reply["note"] is None


def test_json_safe_keeps_finite_numbers_and_names():
    from fmwidget.messages import json_safe

    obj = {"layer": "NaN", "v": [1.5, float("nan"), float("inf"), -float("inf"), np.float32(2)]}
    assert json_safe(obj) == {"layer": "NaN", "v": [1.5, "NaN", "Infinity", "-Infinity", 2.0]}


@pytest.mark.parametrize(("bias", "signed"), [(0.0, False), (3.0, False), (-2.5, True)])
def test_constant_and_all_zero_maps(bias, signed):
    w = capture(fmwidget.FeatureMapWidget(signs_model(bias=bias), np.zeros((6, 6, 1), "float32")))
    conv = synced_json(w)["layers"][w.fm.names.index("c")]
    assert conv["min"] == conv["max"] == bias and conv["signed"] is signed
    reply, got = get_layer(w, "c")
    assert reply["scale"] == 1.0 and reply["min"] == reply["max"] == bias
    assert np.all(got == bias)
    reply, got = get_layer(w, "p")
    assert np.all(got == bias) and got.shape == (2, 3, 3)


def test_huge_range_1e30():
    x = np.linspace(-1, 1, 36, dtype="float32").reshape(6, 6, 1)
    w = capture(fmwidget.FeatureMapWidget(signs_model(scale=1e30), x))
    conv = synced_json(w)["layers"][w.fm.names.index("c")]
    assert conv["max"] == pytest.approx(1e30, rel=1e-6)
    reply, got = get_layer(w, "c")
    assert reply["scale"] > 1e25
    want = np.moveaxis(w.fm["c"][0], -1, 0)
    np.testing.assert_allclose(got, want, rtol=2**-11, atol=1e30 * 2**-24)
    assert np.isfinite(got).all()  # no float16 overflow
    tiny = capture(fmwidget.FeatureMapWidget(signs_model(scale=1e-30), x))
    _, got = get_layer(tiny, "c")
    want = np.moveaxis(tiny.fm["c"][0], -1, 0)
    np.testing.assert_allclose(got, want, rtol=2**-11, atol=1e-30 * 2**-24)
    assert np.count_nonzero(got) == np.count_nonzero(want)  # nothing flushed to zero


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16", "float16", "bfloat16"])
def test_mixed_precision_models(policy):
    import ml_dtypes

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(3, 3, activation="relu", name="c", dtype=policy),
            L.MaxPooling2D(2, name="p", dtype=policy),
            L.Conv2D(2, 1, name="c2", dtype=policy),
        ],
        name="mp",
    )
    x = np.random.default_rng(0).random((8, 8, 1)).astype("float32")
    w = capture(fmwidget.FeatureMapWidget(model, x))
    want = keras.ops.convert_to_numpy(keras.ops.cast(model(x[None]), "float32"))
    assert w.fm["c2"].dtype == np.float32
    np.testing.assert_array_equal(w.fm["c2"], want)
    _, got = get_layer(w, "c2")
    np.testing.assert_allclose(got, np.moveaxis(want[0], -1, 0), rtol=2**-10, atol=2**-14)
    _, pre = get_layer(w, "c", pre_activation=True)
    assert pre.shape == (3, 6, 6)
    w._handle_custom_msg(
        {"type": "get_trace", "layer": "p", "filter": 1, "row": 1, "col": 2, "request_id": 4}, []
    )
    assert w.sent[-1][0]["type"] == "trace", w.sent[-1][0]
    for half in (x.astype("float16"), x.astype(ml_dtypes.bfloat16)):
        w.set_input(half)  # half-precision input is accepted (as float32)
        assert w.fm["input"].dtype == np.float32
        np.testing.assert_allclose(w.fm["input"][0], half.astype("float32"))
