"""Grad-CAM and saliency against closed forms computed in numpy, on every backend.

The weights come from a seeded numpy generator and are set on the Keras layers, so every
backend (CI runs this file once per backend) differentiates the same model; each must match
the same float64 numpy oracle within ``TOL`` (absolute, on maps scaled to [0, 1]). So any two
backends agree within ``2 * TOL``. The oracles never call fmwidget or a Keras gradient:
closed forms for a linear model, and central finite differences of a numpy forward pass for
a small ReLU CNN.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.validation import LayerNotFoundError

BACKEND = keras.backend.backend()
#: Largest allowed |fmwidget - oracle| on maps in [0, 1] (float32 arithmetic vs float64).
TOL = 1e-5


# -- numpy oracles ------------------------------------------------------------------------
def np_conv_same(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'same' 2-D cross-correlation of one (H, W, Cin) image with a (kh, kw, Cin, Cout) kernel."""
    kh, kw = k.shape[:2]
    pt, pl = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((pt, kh - 1 - pt), (pl, kw - 1 - pl), (0, 0)))
    h, w = x.shape[:2]
    out = np.zeros((h, w, k.shape[3])) + b
    for u in range(kh):
        for v in range(kw):
            out += np.einsum("ijc,co->ijo", xp[u : u + h, v : v + w], k[u, v])
    return out


def np_maxpool2(x: np.ndarray) -> np.ndarray:
    h, w, c = x.shape
    return x[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def finite_difference(f, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (f(up) - f(down)) / (2 * eps)
    return grad


def resize_bilinear(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Keras's own bilinear resize (half-pixel centres), a path independent of fmwidget."""
    out = keras.ops.image.resize(
        cam[None, ..., None].astype("float32"), shape, interpolation="bilinear", antialias=False
    )
    return keras.ops.convert_to_numpy(out)[0, ..., 0].astype(np.float64)


def unit_max(m: np.ndarray) -> np.ndarray:
    return m / m.max() if m.max() > 0 else m


# -- models ---------------------------------------------------------------------------------
def linear_model(rng: np.random.Generator):
    """conv (linear, 'same') -> global average pooling -> dense: the class score is linear."""
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(3, 3, padding="same", name="conv"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(4, name="head"),
        ],
        name="linear",
    )
    k = rng.normal(size=(3, 3, 2, 3)).astype("float32")
    b = rng.normal(size=3).astype("float32")
    w = rng.normal(size=(3, 4)).astype("float32")
    c = rng.normal(size=4).astype("float32")
    model.get_layer("conv").set_weights([k, b])
    model.get_layer("head").set_weights([w, c])
    return model, (k, b, w, c)


def relu_cnn(rng: np.random.Generator, softmax: bool = True):
    """conv-relu -> maxpool -> conv -> ReLU layer -> flatten -> dense(softmax)."""
    inp = keras.Input((8, 8, 2), name="image")
    x = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(4, 3, padding="same", name="conv2")(x)
    x = L.ReLU(name="relu2")(x)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(3, activation="softmax" if softmax else None, name="head")(x)
    model = keras.Model(inp, out, name="relu_cnn")
    weights = {
        "conv1": [rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3) * 0.1],
        "conv2": [rng.normal(size=(3, 3, 3, 4)) * 0.5, rng.normal(size=4) * 0.1],
        "head": [rng.normal(size=(64, 3)) * 0.3, rng.normal(size=3) * 0.1],
    }
    for name, ws in weights.items():
        model.get_layer(name).set_weights([w.astype("float32") for w in ws])
    return model, {
        n: [w.astype("float32").astype(np.float64) for w in ws] for n, ws in weights.items()
    }


def relu_cnn_numpy(x: np.ndarray, w: dict, upto: str = "logits"):
    """The relu_cnn forward pass in float64 numpy; logits before the softmax."""
    a1 = np.maximum(np_conv_same(x, *w["conv1"]), 0)
    p = np_maxpool2(a1)
    a2 = np.maximum(np_conv_same(p, *w["conv2"]), 0)
    if upto == "relu2":
        return a2
    return a2.reshape(-1) @ w["head"][0] + w["head"][1]


# -- the linear model: closed forms -------------------------------------------------------------
def linear_closed_forms(x: np.ndarray, k, b, w, cls: int):
    """Grad-CAM at 'conv' and dS/dx for the linear model, by hand."""
    x, k, b, w = (np.asarray(a, np.float64) for a in (x, k, b, w))
    a = np_conv_same(x, k, b)  # (6, 6, 3)
    alpha = w[:, cls] / 36.0  # dS/dA_k is the same in every cell: W[k, cls] / (6 * 6)
    cam = unit_max(np.maximum(a @ alpha, 0))
    # dS/dx[p, q, c] = sum_k alpha_k * sum of the kernel taps that see (p, q) from inside
    grad = np.zeros_like(x)
    for i in range(6):
        for j in range(6):
            for u in range(3):
                for v in range(3):
                    p, q = i + u - 1, j + v - 1
                    if 0 <= p < 6 and 0 <= q < 6:
                        grad[p, q] += k[u, v] @ alpha
    return cam, grad


def test_linear_model_grad_cam_and_saliency_equal_closed_forms():
    rng = np.random.default_rng(12)
    model, (k, b, w, _) = linear_model(rng)
    x = rng.random((6, 6, 2)).astype("float32")
    top = int(np.argmax(keras.ops.convert_to_numpy(model(x[None]))))
    for cls in range(4):
        cam_want, grad = linear_closed_forms(x, k, b, w, cls)
        cam = fmwidget.grad_cam(model, x, "conv", class_index=cls)
        assert cam.shape == (6, 6) and cam.dtype == np.float32
        assert cam.min() >= 0 and cam.max() <= 1
        np.testing.assert_allclose(cam, cam_want, atol=TOL, rtol=0)
        sal = fmwidget.saliency(model, x, class_index=cls)
        np.testing.assert_allclose(sal, unit_max(np.abs(grad).max(axis=-1)), atol=TOL, rtol=0)
        ixg = fmwidget.saliency(model, x, class_index=cls, method="input_x_gradient")
        np.testing.assert_allclose(ixg, unit_max(np.abs((x * grad).sum(-1))), atol=TOL, rtol=0)
        # The gradient of a linear score is the same everywhere: SmoothGrad changes nothing.
        smooth = fmwidget.saliency(model, x, class_index=cls, method="smoothgrad", samples=5)
        np.testing.assert_allclose(smooth, sal, atol=TOL, rtol=0)
        raw = fmwidget.saliency(model, x, class_index=cls, normalize=False)
        np.testing.assert_allclose(raw, np.abs(grad).max(axis=-1), rtol=1e-5, atol=1e-6)
    # class_index=None is the top prediction; the default layer is 'conv'.
    np.testing.assert_array_equal(
        fmwidget.grad_cam(model, x), fmwidget.grad_cam(model, x, "conv", top)
    )


def test_relu_cnn_matches_finite_differences_of_a_numpy_forward_pass():
    rng = np.random.default_rng(3)
    model, w = relu_cnn(rng)
    xs = rng.random((2, 8, 8, 2)).astype("float32")
    for x in xs:
        x64 = x.astype(np.float64)
        logits = relu_cnn_numpy(x64, w)
        top = int(np.argmax(logits))
        # Grad-CAM at relu2 (the default: the last spatial layer before the head). The score
        # is linear in relu2's output: dS/dA is the dense column, reshaped.
        a2 = relu_cnn_numpy(x64, w, upto="relu2")
        dsda = w["head"][0][:, top].reshape(4, 4, 4)
        cam = np.maximum((a2 * dsda.mean(axis=(0, 1))).sum(-1), 0)
        want = unit_max(resize_bilinear(cam, (8, 8)))
        got = fmwidget.grad_cam(model, x)
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
        # HiResCAM keeps each cell's own gradient; the cells' terms add up to the logit.
        terms = (a2 * dsda).sum(-1)
        assert terms.sum() == pytest.approx(logits[top] - w["head"][1][top])
        want = unit_max(resize_bilinear(np.maximum(terms, 0), (8, 8)))
        got = fmwidget.grad_cam(model, x, method="hires_cam")
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
        # Saliency: central differences of the pre-softmax score, in float64.
        grad = finite_difference(lambda v, t=top: relu_cnn_numpy(v, w)[t], x64)
        np.testing.assert_allclose(
            fmwidget.saliency(model, x), unit_max(np.abs(grad).max(-1)), atol=1e-4, rtol=0
        )
    # A batch gives one map per sample, each with its own class.
    both = fmwidget.grad_cam(model, xs, class_index=[0, 2])
    assert both.shape == (2, 8, 8)
    np.testing.assert_allclose(both[1], fmwidget.grad_cam(model, xs[1], class_index=2), atol=1e-6)


def test_softmax_is_skipped_whether_fused_or_a_layer():
    rng = np.random.default_rng(4)
    fused, _ = relu_cnn(rng)
    logits_model, _ = relu_cnn(np.random.default_rng(4), softmax=False)
    out = L.Softmax(name="probs")(logits_model.output)
    layered = keras.Model(logits_model.input, out)
    x = rng.random((8, 8, 2)).astype("float32")
    want = fmwidget.grad_cam(logits_model, x, class_index=1)
    for model in (fused, layered):
        np.testing.assert_allclose(fmwidget.grad_cam(model, x, class_index=1), want, atol=1e-6)
        np.testing.assert_allclose(
            fmwidget.saliency(model, x, class_index=1),
            fmwidget.saliency(logits_model, x, class_index=1),
            atol=1e-6,
        )
    assert fused.get_layer("head").activation.__name__ == "softmax"  # restored


# -- model kinds ------------------------------------------------------------------------------
class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="sub")
        self.conv1 = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")
        self.pool = L.MaxPooling2D(2, name="pool")
        self.conv2 = L.Conv2D(4, 3, padding="same", name="conv2")
        self.relu2 = L.ReLU(name="relu2")
        self.flat = L.Flatten(name="flat")
        self.head = L.Dense(3, activation="softmax", name="head")

    def call(self, x):
        x = self.pool(self.conv1(x))
        x = self.relu2(self.conv2(x)) * 1.0  # an op outside any layer
        return self.head(self.flat(x))


def test_nested_and_subclassed_models_give_the_functional_maps():
    rng = np.random.default_rng(5)
    functional, _ = relu_cnn(rng)
    x = rng.random((8, 8, 2)).astype("float32")
    weights = {layer.name: layer.get_weights() for layer in functional.layers}

    inner = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            L.Conv2D(3, 3, padding="same", activation="relu", name="conv1"),
            L.MaxPooling2D(2, name="pool"),
            L.Conv2D(4, 3, padding="same", name="conv2"),
            L.ReLU(name="relu2"),
        ],
        name="features",
    )
    inp = keras.Input((8, 8, 2))
    y = L.Flatten(name="flat")(inner(inp))
    nested = keras.Model(inp, L.Dense(3, activation="softmax", name="head")(y), name="nested")
    sub = Subclassed()
    sub(x[None])
    for model, prefix in ((nested, "features/"), (sub, "")):
        for name in ("conv1", "conv2", "head"):
            layer = inner.get_layer(name) if prefix and name != "head" else model.get_layer(name)
            layer.set_weights(weights[name])
        for layer_name in ("conv1", "relu2"):
            got = fmwidget.grad_cam(model, x, prefix + layer_name, class_index=2)
            want = fmwidget.grad_cam(functional, x, layer_name, class_index=2)
            np.testing.assert_allclose(got, want, atol=1e-6)
        np.testing.assert_allclose(
            fmwidget.grad_cam(model, x), fmwidget.grad_cam(functional, x), atol=1e-6
        )
        np.testing.assert_allclose(
            fmwidget.saliency(model, x), fmwidget.saliency(functional, x), atol=1e-6
        )


def test_shared_layer_calls_are_told_apart():
    rng = np.random.default_rng(6)
    conv = L.Conv2D(2, 3, padding="same", name="shared")
    inp = keras.Input((6, 6, 2))
    first = conv(inp)
    second = conv(L.Activation("tanh", name="squash")(first))
    out = L.Dense(3, name="head")(L.Flatten(name="flat")(second))
    model = keras.Model(inp, out)
    k = rng.normal(size=(3, 3, 2, 2)).astype("float32")
    b = np.zeros(2, "float32")
    hw, hb = rng.normal(size=(72, 3)).astype("float32"), np.zeros(3, "float32")
    conv.set_weights([k, b])
    model.get_layer("head").set_weights([hw, hb])
    x = rng.random((6, 6, 2)).astype("float32")
    k64, hw64 = k.astype(np.float64), hw.astype(np.float64)

    def score_from_first(a1):  # numpy: the rest of the network after the first call
        return (np_conv_same(np.tanh(a1), k64, 0.0).reshape(-1) @ hw64)[1]

    a1 = np_conv_same(x.astype(np.float64), k64, 0.0)
    a2 = np_conv_same(np.tanh(a1), k64, 0.0)
    for name, act, dsda in (
        ("shared", a1, finite_difference(score_from_first, a1)),
        ("shared:1", a2, hw64[:, 1].reshape(6, 6, 2)),
    ):
        want = unit_max(np.maximum((act * dsda.mean(axis=(0, 1))).sum(-1), 0))
        np.testing.assert_allclose(
            fmwidget.grad_cam(model, x, name, class_index=1), want, atol=1e-4, rtol=0
        )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_gives_float32_maps_close_to_float32(policy):
    rng = np.random.default_rng(7)
    ref, _ = relu_cnn(rng)
    x = rng.random((8, 8, 2)).astype("float32")
    inp = keras.Input((8, 8, 2))
    y = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1", dtype=policy)(inp)
    y = L.MaxPooling2D(2, name="pool", dtype=policy)(y)
    y = L.Conv2D(4, 3, padding="same", name="conv2", dtype=policy)(y)
    y = L.ReLU(name="relu2", dtype=policy)(y)
    y = L.Flatten(name="flat", dtype=policy)(y)
    out = L.Dense(3, activation="softmax", name="head", dtype=policy)(y)
    half = keras.Model(inp, out)
    for name in ("conv1", "conv2", "head"):
        half.get_layer(name).set_weights(ref.get_layer(name).get_weights())
    tol = 2e-2 if policy == "mixed_float16" else 6e-2  # bfloat16 keeps 8 bits
    for got, want in (
        (fmwidget.grad_cam(half, x, class_index=0), fmwidget.grad_cam(ref, x, class_index=0)),
        (fmwidget.saliency(half, x, class_index=0), fmwidget.saliency(ref, x, class_index=0)),
    ):
        assert got.dtype == np.float32 and np.isfinite(got).all()
        np.testing.assert_allclose(got, want, atol=tol)


# -- errors ----------------------------------------------------------------------------------
class Conditional(keras.Model):
    """Calls ``extra`` only while ``use_extra`` is set: its output can vanish."""

    def __init__(self):
        super().__init__(name="conditional")
        self.conv = L.Conv2D(2, 3, padding="same", name="conv")
        self.extra = L.Conv2D(2, 1, name="extra")
        self.flat = L.Flatten()
        self.head = L.Dense(2, name="head")
        self.use_extra = True

    def call(self, x):
        x = self.conv(x)
        if self.use_extra:
            x = self.extra(x)
        return self.head(self.flat(x))


def test_clear_errors():
    rng = np.random.default_rng(8)
    model, _ = relu_cnn(rng)
    x = rng.random((8, 8, 2)).astype("float32")
    with pytest.raises(LayerNotFoundError, match=r"received 'conv3'\. Did you mean"):
        fmwidget.grad_cam(model, x, "conv3")
    with pytest.raises(ValueError, match=r"spatial map for Grad-CAM, received 'head'"):
        fmwidget.grad_cam(model, x, "head")
    with pytest.raises(ValueError, match=r"inside the model .* received 'input'"):
        fmwidget.grad_cam(model, x, "input")
    with pytest.raises(ValueError, match=r"class_index in range\(0, 3\), received 3"):
        fmwidget.grad_cam(model, x, class_index=3)
    with pytest.raises(TypeError, match=r"class_index None, an int, or 2 ints"):
        fmwidget.grad_cam(model, np.stack([x, x]), class_index=[1])
    with pytest.raises(ValueError, match=r"method in .* received 'guided'"):
        fmwidget.saliency(model, x, method="guided")
    with pytest.raises(ValueError, match=r"method in \('grad_cam', 'hires_cam'\), rec.*'cam'"):
        fmwidget.grad_cam(model, x, method="cam")
    with pytest.raises(ValueError, match=r"Expected input of shape \(8, 8, 2\)"):
        fmwidget.grad_cam(model, x[:4])
    seg = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(3, 1, name="c")])
    with pytest.raises(ValueError, match=r"class scores of shape \(batch, classes\), rec.*8, 8, 3"):
        fmwidget.grad_cam(seg, x)
    cond = Conditional()
    xc = rng.random((6, 6, 2)).astype("float32")
    fmwidget.grad_cam(cond, xc, "extra")  # reachable while it is called
    cond.use_extra = False
    with pytest.raises(ValueError, match=r"call layer 'extra' .* cannot be reached"):
        fmwidget.grad_cam(cond, xc, "extra")
    assert "call" not in cond.extra.__dict__  # the probe left no wrapper behind


def test_resize_matches_keras_bilinear_resize():
    from fmwidget.explain import resize_linear

    maps = np.random.default_rng(9).random((2, 5, 7)).astype("float32")
    for shape in ((20, 21), (5, 14), (3, 4)):
        got = resize_linear(maps, shape)
        for k in range(2):
            np.testing.assert_allclose(got[k], resize_bilinear(maps[k], shape), atol=1e-5)
