"""Input that Keras accepts is accepted, cast exactly as ``model(x)`` casts it, never rescaled.

Every check compares with Keras's own answer for the *raw* array: ``model(x)`` (or a sub-model
over the same graph) called on the uint8 / int / bool / float16 / float64 array itself.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget

RNG = np.random.default_rng(7)
IMAGE = (RNG.random((8, 8, 3)) * 255).astype("uint8")  # an 8-bit image: 0 ... 254
DTYPES = ["uint8", "int8", "uint16", "int32", "int64", "bool", "float16", "float64"]


def layers():
    return [L.Conv2D(4, 3, activation="relu", name="c"), L.MaxPooling2D(2, name="p")]


def functional():
    inp = keras.Input((8, 8, 3))
    x = inp
    for layer in layers():
        x = layer(x)
    return keras.Model(inp, x, name="functional")


def sequential():
    return keras.Sequential([keras.Input((8, 8, 3)), *layers()], name="sequential")


def unbuilt():
    return keras.Sequential(layers(), name="unbuilt")


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.c, self.p = layers()

    def call(self, x):
        return self.p(self.c(x))


def numpy(t) -> np.ndarray:
    return keras.ops.convert_to_numpy(t).astype("float32")


def raw(dtype: str) -> np.ndarray:
    return IMAGE.astype(dtype) if dtype != "int8" else (IMAGE.astype("int16") - 128).astype("int8")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("build", [functional, sequential, unbuilt], ids=lambda f: f.__name__)
def test_maps_equal_keras_on_the_raw_array(build, dtype):
    keras.utils.set_random_seed(0)
    model = build()
    x = raw(dtype)
    fm = fmwidget.extract(model, x)
    # the values the model took, as float32: a plain cast (uint8 255 stays 255.0)
    assert fm["input"].dtype == np.float32
    np.testing.assert_array_equal(fm["input"][0], x.astype("float32"))
    assert fm["input"].max() == x.astype("float32").max()
    want = numpy(model(x[None], training=False))  # Keras's own cast of the same raw array
    np.testing.assert_allclose(fm["p"], want, rtol=1e-6, atol=1e-5)
    conv = keras.Model(model.inputs, model.get_layer("c").output)
    np.testing.assert_allclose(fm["c"], numpy(conv(x[None])), rtol=1e-6, atol=1e-5)
    if dtype != "bool":  # unscaled 8-bit values went through: maps far above 1
        assert np.abs(want).max() > 5.0


def test_bfloat16_input():
    ml_dtypes = pytest.importorskip("ml_dtypes")  # a dependency of Keras itself
    model = functional()
    x = (RNG.random((8, 8, 3)) * 4).astype(ml_dtypes.bfloat16)
    fm = fmwidget.extract(model, x)
    np.testing.assert_array_equal(fm["input"][0], x.astype("float32"))
    want = numpy(model(x.astype("float32")[None]))
    np.testing.assert_allclose(fm["p"], want, rtol=1e-6, atol=1e-6)


def test_a_model_that_takes_uint8_gets_uint8():
    """``Input(dtype="uint8")`` then ``Rescaling``: Keras casts any input to uint8 first."""
    inp = keras.Input((8, 8, 3), dtype="uint8")
    x = L.Rescaling(1 / 255, name="scale")(inp)
    for layer in layers():
        x = layer(x)
    model = keras.Model(inp, x)
    for x in (IMAGE, IMAGE.astype("float32") + 0.75, IMAGE.astype("int64")):
        fm = fmwidget.extract(model, x)
        np.testing.assert_array_equal(fm["input"][0], x.astype("uint8").astype("float32"))
        np.testing.assert_allclose(fm["p"], numpy(model(x[None])), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(fm["scale"][0], IMAGE / np.float32(255), rtol=1e-6)


def test_mixed_float16_sequential_rounds_the_input_as_keras_does():
    """An unbuilt Sequential builds with an Input of its first layer's compute dtype."""
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = unbuilt()
    finally:
        keras.config.set_dtype_policy("float32")
    x = RNG.random((8, 8, 3)).astype("float32") + 1000  # float16 keeps ~3 digits here
    fm = fmwidget.extract(model, x)
    np.testing.assert_array_equal(fm["input"][0], x.astype("float16").astype("float32"))
    assert not np.array_equal(fm["input"][0], x)
    np.testing.assert_allclose(fm["p"], numpy(model(x[None])), rtol=1e-3)


def test_subclassed_model_gets_integers_as_keras_passes_them():
    """Keras casts only floating-point input of a model without Input: ints go in as they are.

    Whether the model then takes them is the backend's call (JAX promotes uint8 with float32
    weights; TensorFlow's and PyTorch's convolutions refuse): fmwidget does what ``model(x)``
    does, and says why when it fails.
    """
    model = Subclassed()
    fmwidget.extract(model, IMAGE.astype("float32"))  # builds it
    try:
        want, keras_error = numpy(model(IMAGE[None])), None
    except Exception as err:
        want, keras_error = None, err
    if keras_error is None:
        fm = fmwidget.extract(model, IMAGE)
        np.testing.assert_array_equal(fm["input"][0], IMAGE.astype("float32"))
        np.testing.assert_allclose(fm["p"], want, rtol=1e-6, atol=1e-5)
    else:
        with pytest.raises(
            (ValueError, TypeError, RuntimeError),
            match=r"(?s)'subclassed' failed on an input of shape \(1, 8, 8, 3\): .*Keras passes "
            r"uint8 input to a model without keras.Input as it is, and casts only "
            r"floating-point input: pass x.astype\('float32'\)",
        ):
            fmwidget.extract(model, IMAGE)
    # float64 is cast to the model's compute dtype by Keras on every backend
    fm = fmwidget.extract(model, IMAGE.astype("float64"))
    np.testing.assert_allclose(fm["p"], numpy(model(IMAGE.astype("float64")[None])), rtol=1e-6)


@pytest.mark.parametrize(
    ("x", "received"),
    [
        (np.zeros((8, 8, 3), "complex64"), "complex64"),
        (np.full((8, 8, 3), "1"), "<U1"),
        (np.full((8, 8, 3), b"1"), "|S1"),
        (np.zeros((8, 8, 3), object), "object"),
        (np.zeros((8, 8, 3), "datetime64[s]"), "datetime64[s]"),
    ],
    ids=["complex", "str", "bytes", "object", "datetime"],
)
@pytest.mark.parametrize("build", [functional, unbuilt, Subclassed], ids=lambda f: f.__name__)
def test_what_is_not_a_real_number_is_refused(build, x, received):
    with pytest.raises(TypeError) as info:
        fmwidget.extract(build(), x)
    assert str(info.value) == (
        "Expected a real-valued image (floating-point, integer or bool, as keras.Model takes), "
        f"received dtype {received} (from ndarray)."
    )


def test_the_widget_shows_a_uint8_image_as_is():
    model = functional()
    w = fmwidget.FeatureMapWidget(model, IMAGE)
    np.testing.assert_array_equal(w.fm["input"][0], IMAGE.astype("float32"))
    w.set_input(IMAGE[::-1].copy())
    np.testing.assert_allclose(w.fm["p"], numpy(model(IMAGE[None, ::-1].copy())), rtol=1e-6)
