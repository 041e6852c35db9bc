"""Receptive and projective fields of 1-D (time series) and 3-D (volume, video) models.

The same independent ground truths as the 2-D tests: the supports of a positive linear copy
of the model (``test_geometry.check_fields``: every cell, every pixel, exactly), single-pixel
perturbations of the real model (``truth.perturbation_fields``) and the backend's own input
gradient of a cell (``truth.gradient_support``). None of them uses fmwidget's geometry.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_geometry import _build, check_fields
from truth import check_against_truth, gradient_support, perturbation_fields, probe_pixels

import fmwidget

BACKEND = keras.backend.backend()
NO_TF_CHANNELS_FIRST = pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="TensorFlow's CPU kernels do not implement channels_first Conv1D (a 2-D conv inside)",
)


def conv1d_zoo(data_format: str = "channels_last") -> keras.Model:
    """Every 1-D layer kind with a window: causal, strided, dilated, separable, depthwise."""
    kw = {"data_format": data_format}
    inp = keras.Input((2, 23) if data_format == "channels_first" else (23, 2))
    x = L.ZeroPadding1D((2, 1), name="pad", **kw)(inp) if data_format == "channels_last" else inp
    x = L.Conv1D(3, 4, padding="causal", name="causal")(x) if data_format == "channels_last" else x
    x = L.Conv1D(3, 3, strides=2, padding="same", name="strided", **kw)(x)
    x = L.MaxPooling1D(3, strides=2, padding="same", name="max", **kw)(x)
    x = L.SeparableConv1D(4, 3, dilation_rate=2, padding="same", name="sep", **kw)(x)
    x = L.DepthwiseConv1D(2, padding="valid", name="dw", **kw)(x)
    x = L.UpSampling1D(2, name="up")(x) if data_format == "channels_last" else x
    x = L.Cropping1D((1, 2), name="crop")(x) if data_format == "channels_last" else x
    x = L.AveragePooling1D(2, strides=1, name="avg", **kw)(x)
    x = L.Conv1DTranspose(2, 3, strides=2, name="tconv", **kw)(x)
    x = L.GlobalMaxPooling1D(name="gmax", **kw)(x)
    return keras.Model(inp, L.Dense(2, name="head")(x), name="conv1d_zoo")


def conv3d_zoo(data_format: str = "channels_last") -> keras.Model:
    """A 6x9x5 volume (unequal axes catch mixed-up axes) through every 3-D window kind."""
    kw = {"data_format": data_format}
    inp = keras.Input((2, 6, 9, 5) if data_format == "channels_first" else (6, 9, 5, 2))
    x = L.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), name="pad", **kw)(inp)
    x = L.Conv3D(3, 3, padding="same", name="same", **kw)(x)
    x = L.MaxPooling3D(2, name="max", **kw)(x)
    x = L.Conv3D(2, (2, 3, 1), strides=(1, 2, 1), name="strided", **kw)(x)
    x = L.UpSampling3D((2, 1, 2), name="up", **kw)(x)
    x = L.Cropping3D(((0, 0), (0, 0), (0, 1)), name="crop", **kw)(x)
    x = L.Conv3D(2, 2, dilation_rate=(2, 1, 1), name="dilated", **kw)(x)
    x = L.AveragePooling3D((1, 2, 2), strides=1, padding="same", name="avg", **kw)(x)
    x = L.GlobalMaxPooling3D(name="gmax", **kw)(x)
    return keras.Model(inp, L.Dense(2, name="head")(x), name="conv3d_zoo")


ZOO1 = ["pad", "causal", "strided", "max", "sep", "dw", "up", "crop", "avg", "tconv", "gmax"]
ZOO3 = ["pad", "same", "max", "strided", "up", "crop", "dilated", "avg", "gmax"]


def test_conv1d_fields_match_keras_exactly():
    """Every cell's field and every time step's projective field, each layer kind."""
    check_fields(conv1d_zoo(), [*ZOO1, "head"])


def test_causal_padding_looks_only_into_the_past():
    inp = keras.Input((12, 1))
    x = L.Conv1D(1, 3, padding="causal", name="c1")(inp)
    x = L.Conv1D(1, 2, dilation_rate=4, padding="causal", name="c2")(x)
    model = keras.Model(inp, x)
    fm = fmwidget.extract(model, np.random.rand(12, 1).astype("float32"))
    for t in range(12):
        assert fm.receptive_field("c1", (t,)) == (slice(max(t - 2, 0), t + 1),)
        # dilation 4 after a 3-tap kernel: t, t - 4 and the two before each
        want = np.zeros(12, bool)
        for tap in (t - 4, t):
            want[max(tap - 2, 0) : max(tap + 1, 0)] = True
        np.testing.assert_array_equal(fm.receptive_field_mask("c2", (t,)), want)
    check_fields(model, ["c1", "c2"])


def test_conv3d_fields_match_keras_exactly():
    check_fields(conv3d_zoo(), [*ZOO3, "head"])


@pytest.mark.parametrize(
    "dims",
    [
        pytest.param(1, marks=NO_TF_CHANNELS_FIRST),  # TF's Conv1D runs on its 2-D kernels
        pytest.param(3, marks=pytest.mark.slow),  # TensorFlow's CPU runs channels_first 3-D
    ],
)
def test_channels_first_fields_match_keras_exactly(dims):
    model = conv1d_zoo("channels_first") if dims == 1 else conv3d_zoo("channels_first")
    names = [la.name for la in model.layers[1:]]
    check_fields(model, names)


def relu_model_1d() -> keras.Model:
    inp = keras.Input((20, 2))
    x = L.Conv1D(4, 3, padding="causal", activation="relu", name="c1")(inp)
    x = L.MaxPooling1D(2, name="pool")(x)
    x = L.Conv1D(4, 3, strides=2, dilation_rate=1, padding="same", activation="relu", name="c2")(x)
    return keras.Model(inp, x)


def relu_model_3d() -> keras.Model:
    inp = keras.Input((8, 8, 8, 1))
    x = L.Conv3D(3, 3, padding="same", activation="relu", name="c1")(inp)
    x = L.MaxPooling3D(2, name="pool")(x)
    x = L.Conv3D(3, (3, 1, 2), padding="valid", activation="relu", name="c2")(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("dims", [1, 3])
def test_real_relu_models_agree_with_perturbation_and_gradients(dims):
    """Moving a pixel outside a field never moves the cell; the gradient stays inside."""
    model = relu_model_1d() if dims == 1 else relu_model_3d()
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(dims).random(shape).astype("float32")
    fm = fmwidget.extract(model, x)
    names = ["c1", "pool", "c2"]
    pixels = probe_pixels(fm.layers[0].spatial_shape, None)
    fields = perturbation_fields(model, x, names, pixels)
    assert all(f.any() for f in fields.values())  # the probe moved something
    check_against_truth(fm, fields, pixels, equal=False, exact_cells=9)
    for name in names:
        spatial = fm.info(name).spatial_shape
        last, middle = tuple(n - 1 for n in spatial), tuple(n // 2 for n in spatial)
        for cell in [(0,) * len(spatial), last, middle]:
            grad = gradient_support(model, x, model.get_layer(name).output, cell)
            mask = fm.receptive_field_mask(name, cell)
            assert grad.shape == mask.shape
            assert not (grad & ~mask).any(), f"{name} {cell}: gradient outside the field"


@pytest.mark.parametrize("dims", [1, 3])
def test_smooth_models_fields_equal_perturbation_truth(dims):
    """Without dead units (tanh, average pooling) the empirical field is the whole field."""
    if dims == 1:
        inp = keras.Input((15, 2))
        x = L.Conv1D(3, 3, dilation_rate=2, padding="same", activation="tanh", name="a")(inp)
        x = L.AveragePooling1D(3, strides=2, name="avg")(x)
        x = L.Conv1D(2, 2, strides=2, padding="causal", activation="tanh", name="b")(x)
    else:
        inp = keras.Input((6, 7, 5, 1))
        x = L.Conv3D(2, (3, 1, 3), padding="same", activation="tanh", name="a")(inp)
        x = L.AveragePooling3D(2, strides=(2, 1, 2), name="avg")(x)
        x = L.Conv3D(2, 2, padding="same", activation="tanh", name="b")(x)
    model = keras.Model(inp, x)
    x = np.random.default_rng(5).random(tuple(model.inputs[0].shape[1:])).astype("float32")
    fm = fmwidget.extract(model, x)
    pixels = probe_pixels(fm.layers[0].spatial_shape, None)
    fields = perturbation_fields(model, x, ["a", "avg", "b"], pixels)
    check_against_truth(fm, fields, pixels, equal=True, exact_cells=9)


def test_receptive_field_grows_across_slices():
    """A 3-D field spans more slices layer after layer: 3, then 4 (pool), then 7 (clipped)."""
    fm = fmwidget.extract(relu_model_3d(), np.zeros((8, 8, 8, 1), "float32"))
    assert fm.receptive_field("c1", (4, 4, 4)) == (slice(3, 6),) * 3
    assert fm.receptive_field("pool", (2, 2, 2)) == (slice(3, 7),) * 3
    # c2's kernel (3, 1, 2) at (1, 1, 1) reads pool cells 1..3, 1, 1..2: c1 cells 2..7, 2..3,
    # 2..5, whose 3-wide windows reach 1..8 (clipped to 8), 1..4 and 1..6
    assert fm.receptive_field("c2", (1, 1, 1)) == (slice(1, 8), slice(1, 5), slice(1, 7))
    table = fm.receptive_field_table("c2")
    assert [t.shape for t in table] == [(2, 2), (4, 2), (3, 2)]


conv3d_layer = st.tuples(
    st.sampled_from(["conv", "conv", "max", "avg", "pad", "up"]),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),  # kernel / pool / size
    st.integers(1, 2),  # stride
    st.integers(1, 2),  # dilation (conv only; Keras needs stride 1 with it)
    st.sampled_from(["valid", "same"]),
)


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    size=st.tuples(*(st.integers(4, 7),) * 3), stack=st.lists(conv3d_layer, min_size=1, max_size=3)
)
def test_random_conv3d_stacks_match_keras(size, stack):
    """Random Conv3D / pooling / padding / upsampling stacks, every cell and voxel exactly."""
    layers = []
    for i, (kind, kernel, stride, dilation, padding) in enumerate(stack):
        name = f"{kind}{i}"
        if kind == "conv":
            stride = 1 if dilation > 1 else stride
            layers.append(
                L.Conv3D(
                    2, kernel, strides=stride, dilation_rate=dilation, padding=padding, name=name
                )
            )
        elif kind in ("max", "avg"):
            cls = L.MaxPooling3D if kind == "max" else L.AveragePooling3D
            layers.append(cls(kernel, strides=stride, padding=padding, name=name))
        elif kind == "pad":
            layers.append(L.ZeroPadding3D(tuple(k - 1 for k in kernel), name=name))
        else:
            layers.append(L.UpSampling3D(tuple(min(k, 2) for k in kernel), name=name))
    model = _build(keras.Input((*size, 1)), layers)
    check_fields(model, [layer.name for layer in layers])
