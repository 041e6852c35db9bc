"""The effective receptive field: inside the exact one, equal to it when nothing is dead, and
equal to the response to single-pixel perturbations (forward passes only) on a linear model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget

BACKEND = keras.backend.backend()


def smooth_model(data_format="channels_last"):
    """No dead units: tanh / ELU activations, average pooling, stride and dilation."""
    shape = (12, 12, 2) if data_format == "channels_last" else (2, 12, 12)
    kw = {"data_format": data_format}
    inp = keras.Input(shape)
    x = L.Conv2D(3, 3, padding="same", activation="tanh", name="c1", **kw)(inp)
    x = L.Conv2D(3, 3, dilation_rate=2, padding="valid", activation="elu", name="dil", **kw)(x)
    x = L.AveragePooling2D(2, name="avg", **kw)(x)
    x = L.Conv2D(2, 3, strides=2, padding="same", activation="tanh", name="s2", **kw)(x)
    out = L.Dense(3, name="head")(L.Flatten(name="flat", **kw)(x))
    return keras.Model(inp, out, name="smooth")


def relu_model():
    inp = keras.Input((12, 12, 2))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c2")(x)
    return keras.Model(inp, x, name="relus")


def small_weights(model, rng, scale=0.4):
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(
                [(rng.normal(size=w.shape) * scale).astype("float32") for w in layer.get_weights()]
            )


def cells(shape):
    return list(np.ndindex(*shape))


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
def test_support_equals_the_exact_field_without_dead_units(data_format):
    rng = np.random.default_rng(0)
    model = smooth_model(data_format)
    small_weights(model, rng)
    x = rng.random((1, *model.inputs[0].shape[1:])).astype("float32") * 0.5
    fm = fmwidget.extract(model, x)
    checked = 0
    for name in ("c1", "dil", "avg", "s2"):
        for pos in cells(fm.info(name).spatial_shape)[::5]:
            erf = fm.effective_receptive_field(name, pos)
            mask = fm.receptive_field_mask(name, pos)
            assert erf.shape == (12, 12) and erf.dtype == np.float32
            np.testing.assert_array_equal(erf > 0, mask, err_msg=f"{name} {pos}")
            checked += 1
    assert checked > 12
    # The dilated layer's field has holes, and the ERF has them too.
    assert not fm.receptive_field_mask("dil", (0, 0)).all()


def test_support_inside_the_exact_field_with_dead_relus_and_max_pooling():
    rng = np.random.default_rng(1)
    model = relu_model()
    x = rng.random((12, 12, 2)).astype("float32") - 0.5
    fm = fmwidget.extract(model, x)
    smaller = 0
    for pos in cells((6, 6)):
        erf = fm.effective_receptive_field("c2", pos)
        mask = fm.receptive_field_mask("c2", pos)
        assert not (erf[~mask] != 0).any(), f"gradient outside the exact field at {pos}"
        smaller += int((erf > 0).sum() < mask.sum())
    assert smaller > 0  # max pooling routes each window's gradient to one cell


def test_values_equal_single_pixel_perturbations_on_a_linear_model():
    rng = np.random.default_rng(2)
    inp = keras.Input((9, 9, 2))
    y = L.Conv2D(3, 3, padding="same", name="a")(inp)
    y = L.Conv2D(3, 3, strides=2, padding="same", name="b")(y)
    model = keras.Model(inp, y)
    x = rng.random((9, 9, 2)).astype("float32")
    fm = fmwidget.extract(model, x)
    # One sample per (pixel, channel), that one value raised by 1: a forward pass tells how
    # much the cell moves, and for a linear map that is exactly the gradient.
    basis = np.repeat(x[None], 9 * 9 * 2, axis=0)
    for k, (r, c, ch) in enumerate(np.ndindex(9, 9, 2)):
        basis[k, r, c, ch] += 1.0
    moved = keras.ops.convert_to_numpy(model(basis)) - keras.ops.convert_to_numpy(model(x[None]))
    for pos in [(0, 0), (2, 3), (4, 4)]:
        for channel in (None, 1):
            cell = moved[:, pos[0], pos[1], :]
            delta = cell.sum(-1) if channel is None else cell[:, channel]
            want = np.abs(delta.reshape(9, 9, 2)).sum(-1)
            got = fm.effective_receptive_field("b", pos, channel=channel)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_subclassed_model_vectors_input_and_errors():
    rng = np.random.default_rng(3)
    functional = smooth_model()
    small_weights(functional, rng)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.c1 = L.Conv2D(3, 3, padding="same", activation="tanh", name="c1")
            self.dil = L.Conv2D(3, 3, dilation_rate=2, activation="elu", name="dil")

        def call(self, x):
            return self.dil(self.c1(x))

    sub = Sub()
    x = rng.random((12, 12, 2)).astype("float32")
    sub(x[None])
    sub.c1.set_weights(functional.get_layer("c1").get_weights())
    sub.dil.set_weights(functional.get_layer("dil").get_weights())
    fm_f, fm_s = fmwidget.extract(functional, x), fmwidget.extract(sub, x)
    np.testing.assert_allclose(
        fm_s.effective_receptive_field("dil", (3, 5)),
        fm_f.effective_receptive_field("dil", (3, 5)),
        rtol=1e-5,
        atol=1e-7,
    )
    head = fm_f.effective_receptive_field("head", (), channel=2)
    assert head.shape == (12, 12) and (head > 0).all()  # a dense unit sees everything
    one = fm_f.effective_receptive_field("input", (4, 7))
    assert one[4, 7] == 1 and one.sum() == 1
    with pytest.raises(ValueError, match=r"inside the \(8, 8\) map .* received \(8, 0\)"):
        fm_f.effective_receptive_field("dil", (8, 0))
    with pytest.raises(ValueError, match=r"channel in range\(0, 3\), received 3"):
        fm_f.effective_receptive_field("dil", (0, 0), channel=3)
    with pytest.raises(ValueError, match=r"position \(\) for 'head'"):
        fm_f.effective_receptive_field("head", (0, 0))
    with pytest.raises(ValueError, match=r"sample in range\(0, 1\), received 1"):
        fm_f.effective_receptive_field("dil", (0, 0), sample=1)
