"""The widget's gradient lens from Python: traits, and overlays / filter images on request."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import traitlets
from helpers import small_cnn

import fmwidget
import fmwidget.featurevis
import fmwidget.gradients

LABELS = ["cat", "dog", "<b>owl</b>", "fox"]


@pytest.fixture
def widget(monkeypatch):
    passes = []
    # every gradient function is made through one of these two names
    for module in (fmwidget.gradients, fmwidget.featurevis):
        real = module.value_and_grad

        def counting(*args, real=real, **kwargs):
            passes.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, "value_and_grad", counting)
    x = np.random.default_rng(0).random((16, 16, 3)).astype("float32")
    w = fmwidget.FeatureMapWidget(small_cnn(), x, class_labels=LABELS)
    w.passes = passes
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def ask(w, **content):
    w._handle_custom_msg(content, [])
    return w.sent[-1]


def decode(reply, buffers):
    values = np.frombuffer(bytes(buffers[0]), np.float16).astype(np.float32)
    return values.reshape(reply["height"], reply["width"])


def test_nothing_is_differentiated_at_construction(widget):
    assert widget.passes == []
    assert widget.overlay == "none" and widget.class_index is None
    assert widget.class_labels == LABELS


def test_grad_cam_overlay_on_request(widget):
    x = widget.fm.input[0]
    top = int(np.argmax(keras.ops.convert_to_numpy(widget.model(x[None]))))
    reply, buffers = ask(widget, type="get_overlay", mode="grad_cam", request_id=3, version=1)
    assert reply["type"] == "overlay" and reply["request_id"] == 3
    assert reply["layer"] == "relu2" and reply["class_index"] == top
    assert reply["class_label"] == LABELS[top]  # sent as data; the browser sets textContent
    assert (reply["height"], reply["width"]) == (16, 16)
    want = fmwidget.grad_cam(widget.model, x)
    np.testing.assert_allclose(decode(reply, buffers), want, rtol=2**-10, atol=2**-12)
    assert widget.passes  # computed now, not before
    # The class_index trait is what a request without a class uses.
    widget.class_index = (top + 1) % 4
    reply, buffers = ask(
        widget, type="get_overlay", mode="grad_cam", layer="conv2", method="hires_cam"
    )
    assert reply["class_index"] == (top + 1) % 4 and reply["layer"] == "conv2"
    assert reply["method"] == "hires_cam"
    want = fmwidget.grad_cam(
        widget.model, x, "conv2", class_index=(top + 1) % 4, method="hires_cam"
    )
    np.testing.assert_allclose(decode(reply, buffers), want, rtol=2**-10, atol=2**-12)


def test_saliency_and_erf_overlays(widget):
    x = widget.fm.input[0]
    reply, buffers = ask(
        widget, type="get_overlay", mode="saliency", method="smoothgrad", class_index=1
    )
    assert reply["method"] == "smoothgrad" and reply["class_index"] == 1
    want = fmwidget.saliency(widget.model, x, 1, method="smoothgrad")
    np.testing.assert_allclose(decode(reply, buffers), want, rtol=2**-10, atol=2**-12)
    reply, buffers = ask(widget, type="get_overlay", mode="erf", layer="conv2", row=2, col=1)
    assert (reply["layer"], reply["row"], reply["col"]) == ("conv2", 2, 1)
    erf = widget.fm.effective_receptive_field("conv2", (2, 1))
    assert reply["peak"] == pytest.approx(float(erf.max()))
    got = decode(reply, buffers)
    np.testing.assert_allclose(got, erf / erf.max(), rtol=2**-10, atol=2**-12)
    assert not got[~widget.fm.receptive_field_mask("conv2", (2, 1))].any()
    passes = len(widget.passes)
    ask(widget, type="get_overlay", mode="erf", layer="conv2", row=2, col=1)
    assert len(widget.passes) == passes  # hovering the same cell again is cached


def test_filter_image_reports_progress_and_returns_rgba(widget):
    widget.visualize_options = {"steps": 6}
    seen = []
    widget.observe(lambda change: seen.append(change["new"]), names="status")
    reply, buffers = ask(widget, type="get_filter_image", layer="conv1", filter=2, request_id=8)
    assert reply["type"] == "filter_image" and reply["request_id"] == 8
    assert (reply["layer"], reply["filter"], reply["steps"]) == ("conv1", 2, 6)
    assert reply["kind"] == "image"
    rgba = np.frombuffer(bytes(buffers[0]), np.uint8).reshape(16, 16, 4)
    vis = fmwidget.visualize_filter(widget.model, "conv1", 2, steps=6)  # the cached result
    np.testing.assert_array_equal(rgba[..., :3], np.round(vis.image * 255).astype(np.uint8))
    assert (rgba[..., 3] == 255).all()
    assert seen[0] == {"phase": "visualize", "done": 0, "total": 6} or seen[0]["done"] >= 1
    assert all(s is None or s["phase"] == "visualize" for s in seen) and seen[-1] is None


def test_filter_image_of_a_time_series_and_of_a_volume():
    """1-D: the series' float32 values; 3-D: the depth slices side by side, 1 px apart."""
    inp = keras.Input((20, 2))
    series = keras.Model(inp, keras.layers.Conv1D(3, 5, activation="relu", name="c")(inp))
    vol_in = keras.Input((4, 6, 5, 1))
    volume = keras.Model(vol_in, keras.layers.Conv3D(2, 3, name="c")(vol_in))
    rng = np.random.default_rng(1)
    for model, x in ((series, rng.random((20, 2))), (volume, rng.random((4, 6, 5, 1)))):
        w = fmwidget.FeatureMapWidget(model, x.astype("float32"), view="grid")
        w.visualize_options = {"steps": 3}
        w.sent = []
        w.send = lambda content, buffers=None, w=w: w.sent.append((content, buffers))
        reply, buffers = ask(w, type="get_filter_image", layer="c", filter=1, request_id=2)
        vis = fmwidget.visualize_filter(model, "c", 1, steps=3)  # the cached result
        if model is series:
            assert (reply["kind"], reply["length"], reply["channels"]) == ("series", 20, 2)
            values = np.frombuffer(bytes(buffers[0]), np.float32).reshape(20, 2)
            np.testing.assert_array_equal(values, vis.image)
        else:
            assert (reply["kind"], reply["depth"]) == ("slices", 4)
            assert (reply["height"], reply["width"]) == (6, 4 * 5 + 3)
            rgba = np.frombuffer(bytes(buffers[0]), np.uint8).reshape(6, 23, 4)
            for d in range(4):
                grey = np.round(vis.image[d, ..., 0] * 255).astype(np.uint8)
                np.testing.assert_array_equal(rgba[:, d * 6 : d * 6 + 5, 0], grey)
            assert (rgba[:, 5::6, :3] == 255).all()  # the gaps


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ({"mode": "guided"}, r"mode 'grad_cam', 'saliency' or 'erf', received 'guided'"),
        ({"mode": "grad_cam", "class_index": "1"}, r"class_index null or an int, rec.* '1'"),
        ({"mode": "grad_cam", "class_index": 9}, r"class_index in range\(0, 4\), received 9"),
        ({"mode": "grad_cam", "layer": "gpool"}, r"spatial map for Grad-CAM, received 'gpool'"),
        ({"mode": "saliency", "method": "deconv"}, r"method in .* received 'deconv'"),
        ({"mode": "erf", "layer": "conv2", "row": 1}, r"int col, received None"),
        ({"mode": "erf", "layer": "conv2", "row": 9, "col": 0}, r"inside the \(6, 4\) map"),
        ({"mode": "erf", "row": 1, "col": 1}, r"layer name \(str\), received NoneType"),
        ({"mode": "erf", "layer": 5, "row": 1, "col": 1}, r"layer name \(str\), received 5"),
    ],
)
def test_bad_overlay_requests_get_error_replies(widget, content, pattern):
    import re

    reply, _ = ask(widget, type="get_overlay", request_id=4, **content)
    assert reply["type"] == "error" and reply["request_id"] == 4
    assert re.search(pattern, reply["message"]), reply["message"]


def test_bad_filter_requests_and_traits():
    w = fmwidget.FeatureMapWidget(small_cnn(), np.random.rand(16, 16, 3).astype("float32"))
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    reply, _ = ask(w, type="get_filter_image", layer="conv1", filter=6, request_id=1)
    assert reply["type"] == "error" and "channel in range(0, 6), received 6" in reply["message"]
    reply, _ = ask(w, type="get_filter_image", layer="conv1", filter="0", request_id=1)
    assert reply["type"] == "error" and "int filter" in reply["message"]
    with pytest.raises(traitlets.TraitError, match=r"class_index None or in range\(0, 4\)"):
        w.class_index = 4
    with pytest.raises(traitlets.TraitError):
        w.overlay = "heatmap"
    w.set_state({"overlay": "sparkles"})  # from the browser: refused, reverted, reported
    assert w.overlay == "none"
    assert w.sent[-1][0]["type"] == "error" and "Refused" in w.sent[-1][0]["message"]
    w.set_state({"overlay": "erf", "class_index": 3})
    assert (w.overlay, w.class_index) == ("erf", 3)
