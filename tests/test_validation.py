"""A catalogue of bad input through the widget (constructor, ``set_input``, traits).

Each case gets an error that says what was expected and what was received; afterwards the
same widget (or, for a refused constructor, the same model in the same kernel) still works
with valid input.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import traitlets
from helpers import L, small_cnn

import fmwidget
from fmwidget.encode import decode_map

X = np.random.default_rng(0).random((16, 16, 3)).astype("float32")


class Flaky(keras.Model):
    """A subclassed CNN whose forward pass raises while ``fail`` is set."""

    def __init__(self):
        super().__init__(name="flaky")
        self.conv = L.Conv2D(2, 3, name="c")
        self.pool = L.MaxPooling2D(2, name="p")
        self.fail = False

    def call(self, x):
        y = self.pool(self.conv(x))
        if self.fail:
            raise FloatingPointError("sensor overflow")
        return y


@pytest.fixture(scope="module")
def model():
    return small_cnn()


@pytest.fixture(scope="module")
def widget(model):
    w = fmwidget.FeatureMapWidget(model, X)
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def assert_works(w, x=X):
    """The widget answers a layer request for ``x`` after ``set_input``."""
    w.set_input(x)
    w._handle_custom_msg({"type": "get_layer", "layer": "conv2", "request_id": 1}, [])
    reply, buffers = w.sent[-1]
    assert reply["type"] == "layer_data" and reply["version"] == w.data_version, reply
    want = np.moveaxis(w.fm["conv2"][0], -1, 0)
    got = decode_map(reply, bytes(buffers[0]))
    np.testing.assert_allclose(got, want, rtol=2**-11, atol=np.abs(want).max() * 2**-13)
    np.testing.assert_allclose(w.fm["input"][0], x)


def mlp():
    return keras.Sequential([keras.Input((8,)), L.Dense(4, name="d1"), L.Dense(2, name="d2")])


def two_inputs():
    a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    return keras.Model([a, b], L.Add()([L.Conv2D(3, 1)(a), b]))


def unbuilt():
    return keras.Sequential([L.Conv2D(2, 3), L.MaxPooling2D(2)], name="unbuilt")


class Rank5(keras.Model):
    def __init__(self):
        super().__init__(name="rank5")
        self.conv = L.Conv3D(2, 3)

    def call(self, x):
        return self.conv(x)


def broken():
    m = Flaky()
    m.fail = True
    return m


S = (16, 16, 3)
f32 = "float32"

# (id, how to trigger it, exception types, message pattern)
SET_INPUT = [
    ("bigger image", lambda w: w.set_input(np.zeros((32, 32, 3), f32)), ValueError,
     r"Expected input of shape \(16, 16, 3\), received \(32, 32, 3\)"),
    ("other channel count", lambda w: w.set_input(np.zeros((16, 16, 4), f32)), ValueError,
     r"Expected input of shape \(16, 16, 3\), received \(16, 16, 4\)"),
    ("rank too low", lambda w: w.set_input(np.zeros((16, 16), f32)), ValueError,
     r"\(16, 16, 3\) \(one sample\) or \(N, 16, 16, 3\) \(a batch\), received \(16, 16\)"),
    ("rank too high", lambda w: w.set_input(np.zeros((1, 1, *S), f32)), ValueError,
     r"received \(1, 1, 16, 16, 3\)"),
    ("a scalar", lambda w: w.set_input(np.float32(1)), ValueError, r"received \(\)"),
    ("empty batch", lambda w: w.set_input(np.zeros((0, *S), f32)), ValueError,
     r"Expected at least one sample, received an empty batch"),
    ("complex image", lambda w: w.set_input(np.zeros(S, "complex64")), TypeError,
     r"Expected a real-valued image \(floating-point, integer or bool, as keras.Model takes\), "
     r"received dtype complex64"),
    ("object array", lambda w: w.set_input(np.empty(S, object)), TypeError,
     r"received dtype object"),
    ("string array", lambda w: w.set_input(np.full(S, "a")), TypeError, r"received dtype <U1"),
    ("numeric strings", lambda w: w.set_input(np.full(S, "0.5")), TypeError,
     r"received dtype <U3"),
    ("bytes array", lambda w: w.set_input(np.full(S, b"1")), TypeError, r"received dtype \|S1"),
    ("datetimes", lambda w: w.set_input(np.zeros(S, "datetime64[s]")), TypeError,
     r"received dtype datetime64\[s\]"),
    ("timedeltas", lambda w: w.set_input(np.zeros(S, "timedelta64[s]")), TypeError,
     r"received dtype timedelta64\[s\]"),
    ("structured array", lambda w: w.set_input(np.zeros(S, "f4,f4")), TypeError,
     r"received dtype \[\('f0', '<f4'\), \('f1', '<f4'\)\]"),
    ("a string", lambda w: w.set_input("cat.png"), TypeError,
     r"Expected an image array \(numpy or tensor\), received str"),
    ("None", lambda w: w.set_input(None), TypeError, r"received NoneType"),
    ("a dict", lambda w: w.set_input({"image": X}), TypeError, r"received dict"),
    ("ragged list", lambda w: w.set_input([[0.0, 1.0], [2.0]]), TypeError,
     r"numpy cannot read as an array"),
    ("tensor of the wrong shape", lambda w: w.set_input(keras.ops.zeros((8, 8, 3))), ValueError,
     r"Expected input of shape \(16, 16, 3\), received \(8, 8, 3\)"),
    ("sample out of range", lambda w: w.set_input(np.zeros((3, *S), f32), sample=3), ValueError,
     r"Expected sample in range\(0, 3\), received 3"),
    ("negative sample", lambda w: w.set_input(X, sample=-1), ValueError,
     r"Expected sample in range\(0, 1\), received -1"),
    ("sample a string", lambda w: w.set_input(X, sample="0"), TypeError,
     r"Expected an int sample, received str '0'"),
    ("sample a bool", lambda w: w.set_input(X, sample=True), TypeError,
     r"Expected an int sample, received bool True"),
    ("unknown layer trait", lambda w: setattr(w, "layer", "conv3"), ValueError,
     r"received 'conv3'\. Did you mean 'conv2', 'conv1'\?"),
    ("layer trait not a string", lambda w: setattr(w, "layer", 5), traitlets.TraitError,
     r"'layer' trait .* expected a unicode string, not the int 5"),
    ("empty layer trait", lambda w: setattr(w, "layer", ""), ValueError, r"received ''"),
    ("colormap_range unknown", lambda w: setattr(w, "colormap_range", "hsv"),
     traitlets.TraitError, r"'colormap_range' trait .* expected any of \['map', 'layer', "),
]  # fmt: skip

CONSTRUCT = [
    ("not a model", lambda m: fmwidget.FeatureMapWidget({"w": 1}, X), TypeError,
     r"Expected a keras.Model \(Keras 3\), received builtins.dict"),
    ("a layer", lambda m: fmwidget.FeatureMapWidget(L.Conv2D(2, 3), X), TypeError,
     r"received .*Conv2D \(wrap the layer in keras.Sequential"),
    ("None model", lambda m: fmwidget.FeatureMapWidget(None, X), TypeError,
     r"received builtins.NoneType"),
    ("no spatial layers", lambda m: fmwidget.FeatureMapWidget(mlp(), np.zeros(8, f32)),
     ValueError, r"Expected a model with spatial layers .* received .* Dense, Dense"),
    ("two inputs", lambda m: fmwidget.FeatureMapWidget(two_inputs(), X), ValueError,
     r"Expected a model with one input, received .* with 2 inputs"),
    ("unknown first layer", lambda m: fmwidget.FeatureMapWidget(m, X, layer="pool9"),
     ValueError, r"received 'pool9'\. Did you mean 'pool2', 'pool1'"),
    ("layer not a string", lambda m: fmwidget.FeatureMapWidget(m, X, layer=3), ValueError,
     r"Expected a layer name \(str\), received int 3"),
    ("forward pass fails", lambda m: fmwidget.FeatureMapWidget(broken(), np.zeros((9, 9, 1), f32)),
     RuntimeError, r"(?s)'flaky' failed on an input of shape \(1, 9, 9, 1\): "
     r"FloatingPointError.*sensor overflow"),
    ("unbuilt model, wrong rank", lambda m: fmwidget.FeatureMapWidget(unbuilt(), np.zeros(9, f32)),
     ValueError, r"Expected input of rank 3 \(one sample\) or 4 \(a batch\) .* "
     r"'unbuilt', received shape \(9,\)"),
    ("subclassed, wrong rank", lambda m: fmwidget.FeatureMapWidget(Rank5(), np.zeros((9, 9), f32)),
     ValueError, r"Expected input of rank 4 \(one sample\) or 5 \(a batch\) for the first "
     r"layer of 'rank5', received shape \(9, 9\)"),
    ("constructor sample out of range", lambda m: fmwidget.FeatureMapWidget(m, X, sample=1),
     ValueError, r"Expected sample in range\(0, 1\), received 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "act", "error", "pattern"), SET_INPUT, ids=[c[0] for c in SET_INPUT]
)
def test_bad_input_to_a_live_widget(widget, case, act, error, pattern):
    version, fm, layer = widget.data_version, widget.fm, widget.layer
    with pytest.raises(error, match=pattern):
        act(widget)
    # nothing changed: the widget keeps showing the previous input
    assert (widget.data_version, widget.fm, widget.layer) == (version, fm, layer)
    assert_works(widget, np.random.default_rng(len(case)).random(S).astype(f32))


@pytest.mark.parametrize(
    ("case", "act", "error", "pattern"), CONSTRUCT, ids=[c[0] for c in CONSTRUCT]
)
def test_bad_widget_construction(model, widget, case, act, error, pattern):
    with pytest.raises(error, match=pattern):
        act(model)
    # the same model (and kernel) still makes a working widget
    w = fmwidget.FeatureMapWidget(model, X, layer="pool1")
    assert w.layer == "pool1" and w.model_name == "small_cnn"
    assert_works(widget)


def test_catalogue_has_at_least_25_cases():
    assert len(SET_INPUT) + len(CONSTRUCT) >= 25


def test_forward_pass_failing_on_set_input_keeps_the_widget():
    model = Flaky()
    x = np.random.rand(9, 9, 1).astype(f32)
    w = fmwidget.FeatureMapWidget(model, x)
    version, fm = w.data_version, w.fm
    model.fail = True
    with pytest.raises(RuntimeError, match=r"'flaky' failed on an input of shape \(1, 9, 9, 1\)"):
        w.set_input(x * 2)
    assert (w.data_version, w.fm) == (version, fm)
    model.fail = False
    w.set_input(x * 2)  # the layer wrappers were restored: a clean second pass
    assert w.data_version == version + 1
    np.testing.assert_allclose(w.fm["input"][0], x * 2)
    assert [i.name for i in w.fm.layers] == [i.name for i in fm.layers]


def test_a_batch_where_one_sample_is_expected_and_the_reverse(model):
    batch = np.random.rand(3, *S).astype(f32)
    w = fmwidget.FeatureMapWidget(model, batch, sample=2)  # a batch: ``sample`` picks one
    assert w.sample == 2 and w.fm["input"].shape == (3, *S)
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    w._handle_custom_msg({"type": "get_layer", "layer": "input", "request_id": 1}, [])
    reply, buffers = w.sent[-1]
    np.testing.assert_allclose(
        decode_map(reply, bytes(buffers[0])), np.moveaxis(batch[2], -1, 0), rtol=2**-11
    )
    w.set_input(batch[1])  # one sample where the widget showed a batch: sample 0 of 1
    assert w.sample == 0 and w.fm["input"].shape == (1, *S)
    np.testing.assert_allclose(w.fm["input"][0], batch[1])
    # an unbuilt model takes one sample too (the batch axis is added)
    u = fmwidget.FeatureMapWidget(unbuilt(), np.random.rand(9, 9, 1).astype(f32))
    assert u.fm["input"].shape == (1, 9, 9, 1)


def _seq(length=None):
    return keras.Sequential([keras.Input((length, 3)), L.Conv1D(2, 3)], name="seq")


def _vol(data_format="channels_last"):
    shape = (8, 8, 8, 1) if data_format == "channels_last" else (1, 8, 8, 8)
    return keras.Sequential(
        [keras.Input(shape), L.Conv3D(2, 3, data_format=data_format)], name="vol"
    )


# 1-D and 3-D models: the messages name the axes (2-D messages stay as above)
ND_INPUTS = [
    ("image to a Conv1D model", _seq, np.zeros((28, 28, 1), f32), ValueError,
     r"^Expected a sequence of shape \(time steps, channels\) = \(None, 3\), received "
     r"\(28, 28, 1\), read as a batch of 28 sequences of shape \(28, 1\)\.$"),
    ("one time step too few axes", _seq, np.zeros(3, f32), ValueError,
     r"^Expected a sequence of shape \(time steps, channels\) = \(None, 3\) \(one sample\) or a "
     r"batch of them \(batch, time steps, channels\), received \(3,\)\.$"),
    ("other channel count", lambda: _seq(100), np.zeros((100, 4), f32), ValueError,
     r"^Expected a sequence of shape \(time steps, channels\) = \(100, 3\), received "
     r"\(100, 4\)\.$"),
    ("slice to a Conv3D model", _vol, np.zeros((8, 8, 1), f32), ValueError,
     r"^Expected a volume of shape \(depth, rows, cols, channels\) = \(8, 8, 8, 1\) \(one "
     r"sample\) or a batch of them \(batch, depth, rows, cols, channels\), received "
     r"\(8, 8, 1\)\.$"),
    ("other depth", _vol, np.zeros((6, 8, 8, 1), f32), ValueError,
     r"^Expected a volume of shape \(depth, rows, cols, channels\) = \(8, 8, 8, 1\), received "
     r"\(6, 8, 8, 1\)\.$"),
    ("channels_first volume", lambda: _vol("channels_first"), np.zeros((8, 8, 8, 1), f32),
     ValueError,
     r"^Expected a volume of shape \(channels, depth, rows, cols\) = \(1, 8, 8, 8\), received "
     r"\(8, 8, 8, 1\)\.$"),
    ("unbuilt Conv1D, wrong rank", lambda: keras.Sequential([L.Conv1D(2, 3)], name="u1"),
     np.zeros((4, 28, 28, 1), f32), ValueError,
     r"^Expected input of rank 2 \(one sample\) or 3 \(a batch\) for the first layer of 'u1', "
     r"received shape \(4, 28, 28, 1\) \(one sequence is \(time steps, channels\)\)\.$"),
    ("text to a Conv1D model", _seq, "ECG", TypeError,
     r"^Expected a sequence array \(numpy or tensor\), received str\.$"),
    ("strings to a Conv3D model", _vol, np.array(["a"]), TypeError,
     r"^Expected a real-valued volume \(floating-point, integer or bool"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "x", "error", "message"),
    [case[1:] for case in ND_INPUTS],
    ids=[case[0] for case in ND_INPUTS],
)
def test_sequence_and_volume_inputs_name_their_axes(build, x, error, message):
    model = build()
    with pytest.raises(error, match=message):
        fmwidget.extract(model, x)
    if isinstance(model.layers[0], L.Conv1D) and not model.built:
        return
    ok = np.zeros(tuple(d or 5 for d in model.inputs[0].shape[1:]), f32)
    assert fmwidget.extract(model, ok)["input"].shape == (1, *ok.shape)  # still takes a right one
