"""The browser's ``set_input`` message (the input panel's pen and image upload).

A real widget on a real Keras model gets the message as the widget manager delivers it: good
images replace the input exactly as ``w.set_input(x)`` does (maps equal Keras's own on the
drawn image); malformed ones get one ``error`` reply naming what was expected and what was
received, and the widget keeps its input and keeps answering.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import fmwidget


def digits_like(channels_first=False):
    keras.utils.set_random_seed(0)
    shape = (1, 12, 10) if channels_first else (12, 10, 1)
    fmt = "channels_first" if channels_first else "channels_last"
    return keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(3, 3, activation="relu", data_format=fmt, name="conv"),
            keras.layers.MaxPooling2D(2, data_format=fmt, name="pool"),
        ],
        name="digits_like",
    )


@pytest.fixture
def widget():
    x = np.random.default_rng(1).random((12, 10, 1), dtype=np.float32)
    w = fmwidget.FeatureMapWidget(digits_like(), x)
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def ask(w, content, buffers=()):
    before = len(w.sent)
    w._handle_custom_msg(content, list(buffers))
    return w.sent[before:]


def message(h=12, w=10, c=1, **extra):
    return {"type": "set_input", "request_id": 7, "height": h, "width": w, "channels": c,
            "layout": "chw", "dtype": "float32", **extra}  # fmt: skip


def stroke(h=12, w=10):
    img = np.zeros((h, w), np.float32)
    img[2:10, 4:6] = 1.0  # a vertical bar, as the pen draws a "1"
    img[5, 1] = 0.5
    return img


def one_error(replies):
    assert len(replies) == 1, replies
    reply, buffers = replies[0]
    assert reply["type"] == "error" and not buffers, reply
    assert reply["request_id"] == 7
    json.dumps(reply, allow_nan=False)
    return reply["message"]


def assert_unchanged_and_working(w, x_before, version):
    assert w.data_version == version
    np.testing.assert_array_equal(w.input_array, x_before)
    replies = ask(w, {"type": "get_layer", "layer": "conv", "request_id": 2})
    assert replies[-1][0]["type"] == "layer_data"
    replies = ask(w, message(), [stroke().tobytes()])  # a good drawing still goes through
    assert replies[-1][0]["type"] == "input_set"


def test_drawn_input_replaces_the_input_like_set_input(widget):
    version = widget.data_version
    img = stroke()
    (reply, _), *rest = ask(widget, message(), [img.tobytes()])
    assert not rest
    assert reply == {
        "type": "input_set",
        "request_id": 7,
        "version": version + 1,
        "height": 12,
        "width": 10,
        "channels": 1,
        "prediction": None,
    }  # fmt: skip  (the model outputs maps, not scores)
    assert widget.data_version == version + 1
    np.testing.assert_array_equal(widget.input_array, img[:, :, None])
    want = keras.ops.convert_to_numpy(widget.model(img[None, :, :, None]))  # Keras on it
    np.testing.assert_allclose(widget.fm["pool"], want, rtol=1e-6, atol=1e-6)


def test_uint8_with_range_and_hwc_layout(widget):
    rgb = np.arange(120, dtype=np.uint8).reshape(12, 10, 1) * 2
    ask(widget, message(layout="hwc", dtype="uint8", range=[-1, 1]), [rgb.tobytes()])
    want = -1 + rgb.astype(np.float32) * np.float32(2 / 255)
    np.testing.assert_allclose(widget.input_array, want, rtol=1e-6, atol=1e-6)


def test_channels_first_input_gets_its_layout():
    keras_fmt = keras.config.backend()
    if keras_fmt == "tensorflow":
        pytest.skip("TensorFlow's CPU convolutions refuse channels_first")
    w = fmwidget.FeatureMapWidget(digits_like(True), np.zeros((1, 12, 10), np.float32))
    w.send = lambda content, buffers=None: None
    w._handle_custom_msg(message(), [stroke().tobytes()])
    np.testing.assert_array_equal(w.input_array, stroke()[None])


@pytest.mark.parametrize(
    ("content", "buffers", "expected"),
    [
        (message(h=28, w=28), [np.zeros((28, 28), np.float32).tobytes()],
         r"Expected a drawn input of height, width, channels (12, 10, 1) (the model's input), "
         r"received (28, 28, 1)."),
        (message(c=3), [np.zeros((3, 12, 10), np.float32).tobytes()],
         "received (12, 10, 3)"),
        (message(dtype="float64"), [np.zeros((12, 10)).tobytes()],
         "Expected dtype 'float32' or 'uint8', received 'float64'."),
        (message(), [np.zeros((12, 10)).tobytes()],
         "Expected 480 bytes (12x10x1 float32), received 960."),
        (message(), [], "Expected one binary buffer with the pixels, received 0."),
        (message(height="12"), [stroke().tobytes()], "Expected int height, width and channels"),
        (message(layout="nhwc"), [stroke().tobytes()], "Expected layout 'chw' or 'hwc'"),
        (message(dtype="uint8"), [bytes(120)], "Expected range [lo, hi]"),
        (message(script="<b>"), [stroke().tobytes()], "received also ['script']"),
    ],
)  # fmt: skip
def test_bad_drawn_input_gets_a_clear_error(widget, content, buffers, expected):
    x_before, version = widget.input_array.copy(), widget.data_version
    text = one_error(ask(widget, content, buffers))
    assert expected in text
    assert_unchanged_and_working(widget, x_before, version)


def test_nan_and_inf_are_refused(widget):
    x_before, version = widget.input_array.copy(), widget.data_version
    img = stroke()
    img[0, 0] = np.nan
    img[1, 1] = np.inf
    text = one_error(ask(widget, message(), [img.tobytes()]))
    assert text == "Expected finite pixel values, received 1 NaN and 1 infinite values."
    assert_unchanged_and_working(widget, x_before, version)


def test_reset_restores_the_original_input_exactly(widget):
    x0, version = widget.input_array.copy(), widget.data_version
    ask(widget, message(), [stroke().tobytes()])
    ask(widget, message(), [np.ones((12, 10), np.float32).tobytes()])  # a second stroke
    assert widget.data_version == version + 2
    (reply, _), *_ = ask(widget, {"type": "set_input", "request_id": 7, "reset": True})
    assert reply["type"] == "input_set" and reply["version"] == version + 3
    np.testing.assert_array_equal(widget.input_array, x0)
    # nothing drawn since: a reset changes nothing; an input from Python is the new original
    ask(widget, {"type": "set_input", "request_id": 7, "reset": True})
    assert widget.data_version == version + 3
    x1 = np.full((12, 10, 1), 0.25, np.float32)
    widget.set_input(x1)
    ask(widget, message(), [stroke().tobytes()])
    ask(widget, {"type": "set_input", "request_id": 7, "reset": True})
    np.testing.assert_array_equal(widget.input_array, x1)


def test_the_reply_names_the_new_inputs_top_class():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, name="c"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax", name="scores"),
        ]
    )
    labels = ["zero", "<b>one</b>", "two"]
    w = fmwidget.FeatureMapWidget(model, np.zeros((6, 6, 1), np.float32), class_labels=labels)
    sent = []
    w.send = lambda content, buffers=None: sent.append(content)
    img = np.random.default_rng(3).random((6, 6), dtype=np.float32)
    head = {"type": "set_input", "request_id": 7, "version": w.data_version, "height": 6,
            "width": 6, "channels": 1, "layout": "chw", "dtype": "float32"}  # fmt: skip
    w._handle_custom_msg(head, [img.tobytes()])
    scores = keras.ops.convert_to_numpy(model(img[None, :, :, None]))[0]  # Keras on it
    got = sent[-1]["prediction"]
    assert got["index"] == int(np.argmax(scores))
    assert got["label"] == labels[got["index"]]
    np.testing.assert_allclose(got["score"], scores.max(), rtol=1e-6)
