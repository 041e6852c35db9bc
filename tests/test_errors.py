"""Bad input gets a clear error naming what was expected and what was received."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L, small_cnn

import fmwidget


@pytest.fixture(scope="module")
def model():
    return small_cnn()


@pytest.fixture(scope="module")
def fm(model):
    return fmwidget.extract(model, np.random.rand(16, 16, 3).astype("float32"))


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (
            np.zeros((32, 32, 3), "float32"),
            ValueError,
            r"Expected input of shape \(16, 16, 3\), received \(32, 32, 3\)",
        ),
        (
            np.zeros((16, 16), "float32"),
            ValueError,
            r"Expected input of shape \(16, 16, 3\) \(one sample\) or \(N, 16, 16, 3\) "
            r"\(a batch\), received \(16, 16\)",
        ),
        (np.zeros((1, 1, 16, 16, 3), "float32"), ValueError, r"received \(1, 1, 16, 16, 3\)"),
        (np.zeros((0, 16, 16, 3), "float32"), ValueError, "empty batch"),
        ("an image", TypeError, "received str"),
        (np.array([["a"] * 3] * 16), TypeError, "received dtype <U1"),
        (np.zeros((16, 16, 3), "complex64"), TypeError, r"real-valued image .* complex64"),
        (np.zeros((16, 16, 3), object), TypeError, "received dtype object"),
        ([[1, 2], [3]], TypeError, "numpy cannot read"),
    ],
)
def test_bad_input(model, x, error, message):
    with pytest.raises(error, match=message):
        fmwidget.extract(model, x)
    # the model still works afterwards
    assert fmwidget.extract(model, np.zeros((16, 16, 3), "float32"))["conv1"].shape == (
        1,
        16,
        16,
        6,
    )


def test_not_a_keras_model():
    with pytest.raises(TypeError, match=r"Expected a keras.Model \(Keras 3\), received .*dict"):
        fmwidget.extract({"model": 1}, np.zeros((4, 4, 1), "float32"))
    with pytest.raises(TypeError, match=r"wrap the layer in keras.Sequential"):
        fmwidget.extract(L.Conv2D(2, 3), np.zeros((4, 4, 1), "float32"))


def test_model_with_no_spatial_layers():
    mlp = keras.Sequential([keras.Input((8,)), L.Dense(4, name="d1"), L.Dense(2, name="d2")])
    with pytest.raises(ValueError, match=r"Expected a model with spatial layers .* Dense, Dense"):
        fmwidget.extract(mlp, np.zeros(8, "float32"))


def test_multi_input_model():
    a, b = keras.Input((4, 4, 1)), keras.Input((4, 4, 1))
    model = keras.Model([a, b], L.Add()([L.Conv2D(1, 1)(a), b]))
    with pytest.raises(ValueError, match=r"Expected a model with one input, received .* 2 inputs"):
        fmwidget.extract(model, np.zeros((4, 4, 1), "float32"))


def test_model_failing_in_forward_pass():
    class Broken(keras.Model):
        def __init__(self):
            super().__init__(name="broken")
            self.conv = L.Conv2D(2, 3)

        def call(self, x):
            self.conv(x)
            raise ZeroDivisionError("boom")

    expected = r"(?s)'broken' failed on an input of shape \(1, 6, 6, 1\): ZeroDivisionError.*boom"
    with pytest.raises(RuntimeError, match=expected):
        fmwidget.extract(Broken(), np.zeros((1, 6, 6, 1), "float32"))


def test_unknown_layer_name(fm):
    with pytest.raises(ValueError, match=r"received 'conv3'\. Did you mean 'conv2', 'conv1'\?"):
        fm["conv3"]
    with pytest.raises(KeyError):  # also a KeyError, as a mapping should raise
        fm.receptive_field("nope", (0, 0))
    with pytest.raises(ValueError, match="Expected a layer name"):
        fm.info(3)


@pytest.mark.parametrize(
    ("position", "message"),
    [
        ((16, 0), r"inside the \(16, 16\) map of layer 'conv1', received \(16, 0\)"),
        ((-1, 2), r"inside the \(16, 16\) map"),
        ((1,), r"Expected a position of 2 ints .* received \(1,\)"),
        ((1.5, 2), r"Expected a position of 2 ints"),
        (None, r"Expected a position tuple of 2 ints .* received NoneType"),
    ],
)
def test_position_outside_map(fm, position, message):
    with pytest.raises((ValueError, TypeError), match=message):
        fm.receptive_field("conv1", position)


def test_pool_source_bad_arguments(fm):
    with pytest.raises(ValueError, match=r"channel in range\(0, 6\), received 6"):
        fm.pool_source("pool1", (0, 0), 6)
    with pytest.raises(ValueError, match=r"sample in range\(0, 1\), received 1"):
        fm.pool_source("pool1", (0, 0), 0, sample=1)
    with pytest.raises(ValueError, match=r"Expected a MaxPooling layer, received 'conv1'"):
        fm.pool_source("conv1", (0, 0), 0)
    with pytest.raises(ValueError, match=r"map of layer 'pool1', received \(8, 0\)"):
        fm.pool_source("pool1", (8, 0), 0)
    with pytest.raises(ValueError, match=r"projective|spatial map"):
        fm.projective_field("head", (0, 0))
    with pytest.raises(ValueError, match=r"the input image, received \(16, 3\)"):
        fm.projective_field("conv1", (16, 3))
