"""The Python side of the widget: traits, and the binary layer messages it answers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import small_cnn

import fmwidget
from fmwidget.encode import decode_map, encode_map


@pytest.fixture
def widget():
    w = fmwidget.FeatureMapWidget(small_cnn(), np.random.rand(16, 16, 3).astype("float32"))
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def ask(w, **content):
    w._on_msg(w, content, [])
    return w.sent[-1]


def test_bundle_ships_with_the_package():
    esm = fmwidget.FeatureMapWidget._esm
    text = esm.read_text() if hasattr(esm, "read_text") else str(esm)
    assert "export" in text and "render" in text  # a real ES module, not a path string


def test_traits_describe_the_model(widget):
    assert widget.model_name == "small_cnn"
    assert widget.layer == "conv1"  # the first convolution by default
    names = [d["name"] for d in widget.layers]
    assert names == widget.fm.names
    conv2 = widget.layers[names.index("conv2")]
    assert conv2["kind"] == "conv" and conv2["height"] == 6 and conv2["width"] == 4
    assert conv2["channels"] == 8 and conv2["inputs"] == [names.index("pool1")]
    assert conv2["signed"] is True  # a linear conv output has negative values
    assert widget.layers[names.index("conv1")]["fused_activation"] == "relu"
    assert widget.hover is None and widget.selected_filters == []


def test_layer_message_carries_the_map_as_float16(widget):
    content, buffers = ask(widget, type="get_layer", layer="conv2", request_id=7, version=1)
    assert content["type"] == "layer_data" and content["request_id"] == 7
    assert content["version"] == widget.data_version
    assert (content["channels"], content["height"], content["width"]) == (8, 6, 4)
    payload = bytes(buffers[0])
    assert len(payload) == 8 * 6 * 4 * 2  # two bytes per value
    got = decode_map(content, payload)
    want = np.moveaxis(widget.fm["conv2"][0], -1, 0)
    np.testing.assert_allclose(got, want, rtol=2**-11, atol=0)
    assert content["layout"] == "hwc" and content["scale"] == 1.0
    assert (content["min"], content["max"]) == (float(want.min()), float(want.max()))
    maps = [widget.fm[i.name] for i in widget.fm.layers[1:] if i.spatial]
    assert content["global_min"] == pytest.approx(min(float(m.min()) for m in maps))
    assert content["global_max"] == pytest.approx(max(float(m.max()) for m in maps))
    # the layer's receptive-field tables travel with its reply, not in the layers trait
    assert all("receptive_field" not in spec for spec in widget.layers)
    rf = content["receptive_field"]
    table = widget.fm.receptive_field_table("conv2")
    assert rf["rows"] == table[0].tolist() and rf["cols"] == table[1].tolist()
    assert rf["rows"][5] == [9, 16]  # pool1 rows 5..7 -> conv1 rows 10..15 -> input 9..16


def test_pre_activation_message(widget):
    content, buffers = ask(
        widget, type="get_layer", layer="conv1", pre_activation=True, request_id=1
    )
    got = decode_map(content, bytes(buffers[0]))
    want = np.moveaxis(widget.fm.pre_activation("conv1")[0], -1, 0)
    np.testing.assert_allclose(got, want, rtol=2**-11, atol=0)
    assert got.min() < 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"type": "get_layer", "layer": "nope", "request_id": 3}, "received 'nope'"),
        ({"type": "frobnicate", "request_id": 3}, "Expected message type"),
        (
            {"type": "get_layer", "layer": "conv2", "pre_activation": True, "request_id": 3},
            "fused activation",
        ),
    ],
)
def test_bad_messages_get_an_error_reply(widget, content, message):
    reply, _ = ask(widget, **content)
    assert reply["type"] == "error" and reply["request_id"] == 3
    assert message in reply["message"]


@pytest.mark.parametrize("peak", [1e30, 3e5, 1.0, 1e-3, 1e-12])
def test_float16_keeps_3_significant_digits_at_any_scale(peak):
    rng = np.random.default_rng(0)
    values = (rng.uniform(-1, 1, (5, 7, 3)) * peak).astype("float32")
    values[0, 0, 0] = peak  # the largest magnitude sets the scale
    header, payload = encode_map(values, "channels_last")
    got = decode_map(header, payload)
    want = np.moveaxis(values, -1, 0)
    big = np.abs(want) >= peak * 2**-14  # within float16's normal range after scaling
    np.testing.assert_allclose(got[big], want[big], rtol=2**-11, atol=0)
    assert np.all(np.abs(got - want) <= peak * 2**-24 + np.abs(want) * 2**-11)


def test_nonfinite_values_pass_through_and_do_not_set_the_range():
    values = np.array([1e30, -3e29, 0.0, np.nan, np.inf, -np.inf], "float32").reshape(1, 6, 1)
    header, payload = encode_map(values, "channels_last")
    got = decode_map(header, payload).ravel()
    np.testing.assert_allclose(got[:3], [1e30, -3e29, 0.0], rtol=2**-11)
    assert np.isnan(got[3]) and got[4] == np.inf and got[5] == -np.inf
    assert header["max"] == pytest.approx(1e30) and header["min"] == pytest.approx(-3e29)


def test_channels_first_and_vectors_layouts():
    cf = np.random.rand(4, 3, 5).astype("float32")
    header, payload = encode_map(cf, "channels_first")
    assert header["layout"] == "chw" and (header["height"], header["width"]) == (3, 5)
    np.testing.assert_allclose(decode_map(header, payload), cf, rtol=2**-11)
    vec = np.random.rand(10).astype("float32")
    header, payload = encode_map(vec, "channels_last")
    assert (header["channels"], header["height"], header["width"]) == (10, 1, 1)
    one_d = np.random.rand(7, 2).astype("float32")  # (steps, channels)
    header, payload = encode_map(one_d, "channels_last")
    assert (header["channels"], header["height"], header["width"]) == (2, 1, 7)
    np.testing.assert_allclose(decode_map(header, payload)[:, 0, :], one_d.T, rtol=2**-11)


def test_layer_trait_rejects_unknown_names_and_set_input_validates(widget):
    with pytest.raises(ValueError, match="received 'nope'"):
        widget.layer = "nope"
    widget.layer = "pool1"
    version = widget.data_version
    with pytest.raises(ValueError, match=r"Expected input of shape \(16, 16, 3\)"):
        widget.set_input(np.zeros((8, 8, 3), "float32"))
    assert widget.data_version == version and widget.layer == "pool1"  # unchanged
    x = np.random.rand(16, 16, 3).astype("float32")
    widget.set_input(x)
    assert widget.data_version == version + 1 and widget.layer == "pool1"
    np.testing.assert_allclose(widget.fm["input"][0], x)
    sub = keras.Model(widget.model.inputs, widget.model.get_layer("pool1").output)
    np.testing.assert_allclose(
        widget.fm["pool1"], keras.ops.convert_to_numpy(sub(x[None])), rtol=1e-5, atol=1e-6
    )


def test_trace_message(widget):
    reply, _ = ask(widget, type="get_trace", layer="pool1", filter=2, row=3, col=4, request_id=9)
    assert reply["type"] == "trace" and reply["request_id"] == 9
    assert [s["layer"] for s in reply["steps"]] == ["conv1", "conv1", "pool1"]
    assert reply["steps"][-1]["value"] == pytest.approx(float(widget.fm["pool1"][0, 3, 4, 2]))
    assert reply["conv"]["total"] == pytest.approx(reply["steps"][0]["value"], rel=1e-4)
    bad, _ = ask(widget, type="get_trace", layer="pool1", filter=2, row=8, col=0, request_id=10)
    assert bad["type"] == "error" and "inside the (8, 8) map" in bad["message"]


def test_trace_message_of_a_volume_cell_carries_its_depth():
    model = keras.Sequential(
        [
            keras.Input((4, 6, 6, 1)),
            keras.layers.Conv3D(2, 3, name="c"),
            keras.layers.MaxPooling3D(2, name="p"),
        ]
    )
    x = np.random.default_rng(5).random((4, 6, 6, 1)).astype("float32")
    w = fmwidget.FeatureMapWidget(model, x, view="grid")
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    w.sent = []
    reply, _ = ask(w, type="get_trace", layer="p", filter=1, depth=0, row=1, col=0, request_id=3)
    assert reply["type"] == "trace", reply
    pool = reply["steps"][-1]
    assert (pool["layer"], pool["depth"], pool["row"], pool["col"]) == ("p", 0, 1, 0)
    want = keras.ops.convert_to_numpy(model(x[None]))[0, 0, 1, 0, 1]  # Keras's own pooling
    assert pool["value"] == pytest.approx(float(want))
    assert (pool["window"]["depth0"], pool["window"]["depth1"]) == (0, 2)
    bad, _ = ask(w, type="get_trace", layer="p", filter=1, row=1, col=0, request_id=4)
    assert bad["type"] == "error" and "Expected a depth" in bad["message"], bad
    bad, _ = ask(w, type="get_trace", layer="p", filter=1, depth="0", row=1, col=0, request_id=5)
    assert bad["type"] == "error" and "int depth" in bad["message"], bad
