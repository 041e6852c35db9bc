"""Grad-CAM, saliency and the effective receptive field on 1-D and 3-D models.

Oracles independent of fmwidget and of Keras's gradients, as in ``test_explain``: a float64
numpy forward pass of the same weights (N-D cross-correlation written here), its central
finite differences, and closed forms for a linear model; the effective receptive field
against the exact field and against single-pixel perturbations of a linear model.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from helpers import L
from test_explain import TOL, finite_difference, unit_max

import fmwidget


def np_conv(x: np.ndarray, k: np.ndarray, b, padding: str = "same") -> np.ndarray:
    """N-D cross-correlation, stride 1, of one ``(*spatial, Cin)`` sample (Keras's 'same')."""
    ks = k.shape[:-2]
    if padding == "same":
        x = np.pad(x, [((n - 1) // 2, n - 1 - (n - 1) // 2) for n in ks] + [(0, 0)])
    out_sp = tuple(s - n + 1 for s, n in zip(x.shape[:-1], ks, strict=True))
    out = np.zeros((*out_sp, k.shape[-1])) + b
    for tap in itertools.product(*(range(n) for n in ks)):
        view = x[tuple(slice(t, t + o) for t, o in zip(tap, out_sp, strict=True))]
        out += view @ k[tap]
    return out


def np_maxpool2(x: np.ndarray) -> np.ndarray:
    """Max pooling 2 (valid) along every spatial axis."""
    sp = tuple(n // 2 for n in x.shape[:-1])
    x = x[tuple(slice(0, 2 * n) for n in sp)]
    shape = [v for n in sp for v in (n, 2)] + [x.shape[-1]]
    return x.reshape(shape).max(axis=tuple(range(1, 2 * len(sp), 2)))


def np_resize(cam: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Linear resize axis by axis with half-pixel centres (``np.interp`` clamps the edges)."""
    for axis, size in enumerate(shape):
        n = cam.shape[axis]
        centres = (np.arange(size) + 0.5) * n / size - 0.5
        cam = np.apply_along_axis(
            lambda v, c=centres: np.interp(c, np.arange(len(v)), v), axis, cam
        )
    return cam


def relu_cnn(dims: int, rng: np.random.Generator):
    """conv-relu -> maxpool 2 -> conv -> ReLU -> flatten -> dense(softmax), 1-D or 3-D."""
    size = (16,) if dims == 1 else (6, 6, 6)
    conv = L.Conv1D if dims == 1 else L.Conv3D
    pool = L.MaxPooling1D if dims == 1 else L.MaxPooling3D
    inp = keras.Input((*size, 2))
    x = conv(3, 3, padding="same", activation="relu", name="conv1")(inp)
    x = pool(2, name="pool")(x)
    x = conv(4, 3, padding="same", name="conv2")(x)
    x = L.ReLU(name="relu2")(x)
    out = L.Dense(3, activation="softmax", name="head")(L.Flatten(name="flat")(x))
    model = keras.Model(inp, out)
    ks = (3,) * dims
    cells = int(np.prod([n // 2 for n in size]))
    weights = {
        "conv1": [rng.normal(size=(*ks, 2, 3)), rng.normal(size=3) * 0.1],
        "conv2": [rng.normal(size=(*ks, 3, 4)) * 0.5, rng.normal(size=4) * 0.1],
        "head": [rng.normal(size=(cells * 4, 3)) * 0.3, rng.normal(size=3) * 0.1],
    }
    for name, ws in weights.items():
        model.get_layer(name).set_weights([w.astype("float32") for w in ws])
    w64 = {n: [w.astype("float32").astype(np.float64) for w in ws] for n, ws in weights.items()}
    return model, w64, size


def forward(x: np.ndarray, w: dict, upto: str = "logits") -> np.ndarray:
    a2 = np.maximum(np_conv(np_maxpool2(np.maximum(np_conv(x, *w["conv1"]), 0)), *w["conv2"]), 0)
    if upto == "relu2":
        return a2
    return a2.reshape(-1) @ w["head"][0] + w["head"][1]


@pytest.mark.parametrize("dims", [1, 3])
def test_relu_cnn_matches_numpy_and_finite_differences(dims):
    rng = np.random.default_rng(10 + dims)
    model, w, size = relu_cnn(dims, rng)
    x = rng.random((*size, 2)).astype("float32")
    x64 = x.astype(np.float64)
    logits = forward(x64, w)
    top = int(np.argmax(logits))
    # Grad-CAM at relu2 (the default): dS/dA is the dense column, reshaped to the map
    a2 = forward(x64, w, upto="relu2")
    dsda = w["head"][0][:, top].reshape(a2.shape)
    cam = np.maximum((a2 * dsda.mean(axis=tuple(range(dims)))).sum(-1), 0)
    got = fmwidget.grad_cam(model, x)
    assert got.shape == size and got.dtype == np.float32
    np.testing.assert_allclose(got, unit_max(np_resize(cam, size)), atol=TOL, rtol=0)
    hires = np.maximum((a2 * dsda).sum(-1), 0)
    np.testing.assert_allclose(
        fmwidget.grad_cam(model, x, method="hires_cam"),
        unit_max(np_resize(hires, size)),
        atol=TOL,
        rtol=0,
    )
    # saliency: central differences of the pre-softmax score
    grad = finite_difference(lambda v: forward(v, w)[top], x64)
    np.testing.assert_allclose(
        fmwidget.saliency(model, x), unit_max(np.abs(grad).max(-1)), atol=1e-4, rtol=0
    )
    np.testing.assert_allclose(
        fmwidget.saliency(model, x, method="input_x_gradient"),
        unit_max(np.abs((x64 * grad).sum(-1))),
        atol=1e-4,
        rtol=0,
    )


@pytest.mark.parametrize("dims", [1, 3])
def test_linear_grad_cam_is_the_closed_form(dims):
    """conv (linear, same) -> global average -> dense: alpha_k = W[k, c] / cells."""
    rng = np.random.default_rng(20 + dims)
    size = (11,) if dims == 1 else (4, 5, 3)
    conv = L.Conv1D if dims == 1 else L.Conv3D
    gap = L.GlobalAveragePooling1D if dims == 1 else L.GlobalAveragePooling3D
    model = keras.Sequential(
        [keras.Input((*size, 2)), conv(3, 3, padding="same", name="conv"), gap(), L.Dense(4)]
    )
    k = rng.normal(size=(*(3,) * dims, 2, 3)).astype("float32")
    b = rng.normal(size=3).astype("float32")
    model.get_layer("conv").set_weights([k, b])
    head = model.layers[-1].get_weights()[0].astype(np.float64)
    x = rng.random((*size, 2)).astype("float32")
    a = np_conv(x.astype(np.float64), k.astype(np.float64), b.astype(np.float64))
    for cls in range(4):
        want = unit_max(np.maximum(a @ (head[:, cls] / np.prod(size)), 0))
        got = fmwidget.grad_cam(model, x, "conv", class_index=cls)
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


def smooth_model(dims: int) -> keras.Model:
    """No dead units: tanh, average pooling, dilation, strides."""
    conv = L.Conv1D if dims == 1 else L.Conv3D
    avg = L.AveragePooling1D if dims == 1 else L.AveragePooling3D
    inp = keras.Input(((13,) if dims == 1 else (7, 6, 7)) + (2,))
    x = conv(3, 3, padding="same", activation="tanh", name="c1")(inp)
    x = conv(2, 2, dilation_rate=2, activation="tanh", name="dil")(x)
    x = avg(2, name="avg")(x)
    x = conv(2, 2, strides=2, padding="same", activation="tanh", name="s2")(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("dims", [1, 3])
def test_effective_field_support_is_the_exact_field(dims):
    rng = np.random.default_rng(dims)
    model = smooth_model(dims)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(
                [rng.normal(size=w.shape).astype("float32") * 0.4 for w in layer.get_weights()]
            )
    x = rng.random(tuple(model.inputs[0].shape[1:])).astype("float32") * 0.5
    fm = fmwidget.extract(model, x)
    checked = 0
    for name in ("c1", "dil", "avg", "s2"):
        spatial = fm.info(name).spatial_shape
        for pos in list(np.ndindex(*spatial))[:: 3 if dims == 1 else 17]:
            erf = fm.effective_receptive_field(name, pos)
            assert erf.shape == fm.layers[0].spatial_shape
            np.testing.assert_array_equal(
                erf > 0, fm.receptive_field_mask(name, pos), err_msg=f"{name} {pos}"
            )
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("dims", [1, 3])
def test_effective_field_values_equal_perturbations_on_a_linear_model(dims):
    rng = np.random.default_rng(30 + dims)
    size = (9,) if dims == 1 else (4, 5, 4)
    conv = L.Conv1D if dims == 1 else L.Conv3D
    inp = keras.Input((*size, 2))
    y = conv(3, 3, padding="same", name="a")(inp)
    y = conv(3, 3, strides=2, padding="same", name="b")(y)
    model = keras.Model(inp, y)
    x = rng.random((*size, 2)).astype("float32")
    fm = fmwidget.extract(model, x)
    cells = list(np.ndindex(*size, 2))
    basis = np.repeat(x[None], len(cells), axis=0)
    for k, cell in enumerate(cells):
        basis[(k, *cell)] += 1.0
    moved = keras.ops.convert_to_numpy(model(basis)) - keras.ops.convert_to_numpy(model(x[None]))
    for pos in [(0,) * dims, tuple(n // 2 // 2 for n in size)]:
        delta = moved[(slice(None), *pos)].sum(-1)
        want = np.abs(delta.reshape(*size, 2)).sum(-1)
        np.testing.assert_allclose(
            fm.effective_receptive_field("b", pos), want, rtol=1e-4, atol=1e-5
        )


def test_effective_field_with_max_pooling_stays_inside_the_field():
    rng = np.random.default_rng(4)
    model, _, size = relu_cnn(3, rng)
    fm = fmwidget.extract(model, rng.random((*size, 2)).astype("float32") - 0.5)
    smaller = 0
    for pos in np.ndindex(3, 3, 3):
        erf = fm.effective_receptive_field("relu2", pos)
        mask = fm.receptive_field_mask("relu2", pos)
        assert not (erf[~mask] != 0).any(), f"gradient outside the exact field at {pos}"
        smaller += int((erf > 0).sum() < mask.sum())
    assert smaller > 0  # max pooling routes each window's gradient to one cell
