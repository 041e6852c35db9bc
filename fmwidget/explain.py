"""Why the network decided: Grad-CAM and saliency maps (the effective receptive field,
the third view of the same kind, is :mod:`fmwidget.erf`).

Each function runs one differentiable forward pass (through :mod:`fmwidget.gradients`,
the only module that knows the backend) and turns the gradients into a map on the input
grid with numpy. Layers are reached inside the pass by :mod:`fmwidget.probe`, so nested,
shared-layer and subclassed models work as Functional ones do.

Formulas (``S`` is the class score: the logit before a final softmax, see
:meth:`fmwidget.probe.Layout.score`; ``A`` a layer's output, ``x`` the input):

* Grad-CAM (Selvaraju et al. 2017): ``ReLU(sum_k alpha_k A_k)`` with ``alpha_k`` the mean
  of ``dS/dA_k`` over the map, resized bilinearly to the input grid (cell centres at
  ``(i + 0.5) * input / map - 0.5``), divided by its maximum.
* HiResCAM (Draelos and Carin 2020), ``grad_cam(method="hires_cam")``: the same without the
  averaging, ``ReLU(sum_k dS/dA_k * A_k)`` cell by cell. Behind a Flatten + Dense head the
  cells' terms add up to the score exactly; Grad-CAM's averaged weights can come out
  negative for every cell there, leaving an empty map.
* ``saliency(method="gradient")`` (Simonyan et al. 2014): ``max_c |dS/dx_c|``.
* ``"smoothgrad"`` (Smilkov et al. 2017): the same of the mean gradient over ``samples``
  copies of ``x`` with Gaussian noise of ``noise * (max(x) - min(x))``.
* ``"input_x_gradient"`` (Shrikumar et al. 2016): ``|sum_c x_c dS/dx_c|``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from .gradients import cached_value_and_grad, scaled_grads
from .maps import extract
from .probe import Layout, Tap, cached_layout, forward, layout_from
from .validation import as_batch, check_index, check_model

ops = keras.ops

CAM_METHODS = ("grad_cam", "hires_cam")
SALIENCY_METHODS = ("gradient", "smoothgrad", "input_x_gradient")
#: SmoothGrad copies differentiated in one pass (bounds memory on big models).
SMOOTHGRAD_CHUNK = 16


def grad_cam(
    model: Any,
    x: Any,
    layer: str | None = None,
    class_index: int | Sequence[int] | None = None,
    *,
    method: str = "grad_cam",
) -> np.ndarray:
    """Grad-CAM: where in the input the evidence for a class lies, seen from one layer.

    Args:
        model: A Keras 3 model ending in class scores ``(batch, classes)``.
        x: One input sample, or a batch.
        layer: Name of a layer with a spatial map (see :func:`fmwidget.extract` for names);
            default: the last spatial layer before the head, skipping pooling (the last
            convolution or its activation).
        class_index: The class to explain (one per sample for a batch); default: the top
            prediction of each sample.
        method: ``"grad_cam"``, or ``"hires_cam"`` to weight each cell by its own gradient
            (see the module docstring).

    Returns:
        float32 array ``(H, W)`` on the input grid with values in ``[0, 1]`` (``(N, H, W)``
        for a batch); all zeros where no cell has positive evidence.

    Raises:
        LayerNotFoundError: unknown layer name.
        ValueError: the layer has no spatial map or cannot be reached, the model does not
            output class scores, or ``class_index`` is out of range.
        TypeError: ``class_index`` is neither None, an int nor one int per sample.
    """
    if method not in CAM_METHODS:
        raise ValueError(f"Expected method in {CAM_METHODS}, received {method!r}.")
    check_model(model)
    batch, single = _batch(model, x)
    layout = layout_of(model, batch)
    info = layout.spatial_layer(layer, "Grad-CAM")
    picks, use_top = _class_picks(layout, class_index, batch.shape[0])

    def make(ref: Any) -> Any:
        def objective(xt: Any, delta: Any, picks: Any, use_top: Any) -> tuple[Any, Any]:
            value, outs = _class_score(ref(), layout, xt, [Tap(info, delta)], picks, use_top)
            return value, outs[info.name]

        return objective, (1,)

    fn = cached_value_and_grad(model, ("grad_cam", batch.shape[1:], info.name), make)
    delta = np.zeros((batch.shape[0], *info.shape), np.float32)
    acts, (grads,) = scaled_grads(fn, [batch, delta, picks, use_top], layout.float16)
    channel_axis = 1 if info.data_format == "channels_first" else -1
    acts = np.moveaxis(acts, channel_axis, -1)
    grads = np.moveaxis(grads, channel_axis, -1)
    if method == "grad_cam":
        grads = grads.mean(axis=tuple(range(1, acts.ndim - 1)), keepdims=True)
    cam = np.maximum((grads * acts).sum(axis=-1), 0.0)
    cam = resize_linear(cam, layout.input_spatial(info.name))
    return _finish(_normalize(cam), single)


def saliency(
    model: Any,
    x: Any,
    class_index: int | Sequence[int] | None = None,
    method: str = "gradient",
    *,
    samples: int = 25,
    noise: float = 0.15,
    seed: int = 0,
    normalize: bool = True,
) -> np.ndarray:
    """A saliency map: how strongly each input pixel moves the class score.

    Args:
        model: A Keras 3 model ending in class scores ``(batch, classes)``.
        x: One input sample, or a batch.
        class_index: The class (one per sample for a batch); default: the top prediction.
        method: ``"gradient"``, ``"smoothgrad"`` or ``"input_x_gradient"`` (see the
            module docstring for the formulas).
        samples: Noisy copies for ``"smoothgrad"``.
        noise: SmoothGrad's noise level, as a fraction of the sample's value range.
        seed: Seed of SmoothGrad's noise (same seed, same map).
        normalize: Divide each map by its maximum (values in ``[0, 1]``); else raw values.

    Returns:
        float32 array ``(H, W)`` on the input grid (``(N, H, W)`` for a batch).
    """
    if method not in SALIENCY_METHODS:
        raise ValueError(f"Expected method in {SALIENCY_METHODS}, received {method!r}.")
    check_model(model)
    batch, single = _batch(model, x)
    layout = layout_of(model, batch)
    picks, use_top = _class_picks(layout, class_index, batch.shape[0])
    if method == "smoothgrad":
        grads = _smoothgrad(model, layout, batch, picks, use_top, samples, noise, seed)
    else:
        grads = _input_gradient(model, layout, batch, picks, use_top)
    channel_axis = 1 if layout.input.data_format == "channels_first" else -1
    if method == "input_x_gradient":
        sal = np.abs((batch * grads).sum(axis=channel_axis))
    else:
        sal = np.abs(grads).max(axis=channel_axis)
    return _finish(_normalize(sal) if normalize else sal.astype(np.float32), single)


def layout_of(model: Any, batch: np.ndarray) -> Layout:
    """The :class:`Layout` of ``model`` for inputs shaped like ``batch[0]`` (cached).

    The first call per model and input shape runs :func:`fmwidget.extract` on one sample.
    """
    return cached_layout(model, batch.shape[1:]) or layout_from(extract(model, batch[:1]))


def resize_linear(maps: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resize ``(N, *spatial)`` maps to ``(N, *shape)`` by (bi)linear interpolation.

    Cell ``i`` of ``n`` sits at ``(i + 0.5) * size / n - 0.5`` on the output grid (the
    half-pixel convention of ``keras.ops.image.resize``); edges are clamped.
    """
    out = np.asarray(maps, np.float32)
    for axis, size in enumerate(shape, start=1):
        n = out.shape[axis]
        if n == size:
            continue
        centres = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
        lo = np.floor(centres).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        w = (centres - lo).astype(np.float32)
        matrix = np.zeros((size, n), np.float32)
        np.add.at(matrix, (np.arange(size), lo), 1 - w)
        np.add.at(matrix, (np.arange(size), hi), w)
        out = np.moveaxis(np.tensordot(matrix, np.moveaxis(out, axis, 0), axes=1), 0, axis)
    return out


# -- helpers ------------------------------------------------------------------------------
def _batch(model: Any, x: Any) -> tuple[np.ndarray, bool]:
    ndim = len(getattr(x, "shape", np.shape(x))) if x is not None else 0
    batch = as_batch(model, x)
    return batch, ndim < batch.ndim


def _finish(maps: np.ndarray, single: bool) -> np.ndarray:
    maps = maps.astype(np.float32, copy=False)
    return maps[0] if single else maps


def _normalize(maps: np.ndarray) -> np.ndarray:
    flat = maps.reshape(maps.shape[0], -1)
    peak = flat.max(axis=1) if flat.size else np.zeros(maps.shape[0])
    peak = np.where(peak > 0, peak, 1.0).reshape((-1,) + (1,) * (maps.ndim - 1))
    return (maps / peak).astype(np.float32)


def _n_classes(layout: Layout) -> int:
    tap, _ = layout.score()
    scores = tap if tap is not None else layout.layers[-1]
    if scores.spatial_shape is not None or len(scores.shape) != 1:
        raise ValueError(
            f"Expected the model {layout.model_name!r} to output class scores of shape "
            f"(batch, classes), received shape (batch, {', '.join(map(str, scores.shape))})."
        )
    return int(scores.shape[0])


def _class_picks(layout: Layout, class_index: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(picks, use_top)``: one-hot ``(n, classes)`` of the asked classes, or the flag
    that says "the top prediction" (picked inside the pass)."""
    classes = _n_classes(layout)
    picks = np.zeros((n, classes), np.float32)
    if class_index is None:
        return picks, np.float32(1.0)
    if isinstance(class_index, (int, np.integer)) and not isinstance(class_index, bool):
        values = [int(class_index)] * n
    else:
        try:
            values = [int(c) for c in class_index if not isinstance(c, bool)]
        except TypeError:
            values = []
        if len(values) != n or len(values) != len(class_index):
            raise TypeError(
                f"Expected class_index None, an int, or {n} ints (one per sample), received "
                f"{class_index!r}."
            )
    for k, c in enumerate(values):
        picks[k, check_index(c, classes, "class_index")] = 1.0
    return picks, np.float32(0.0)


def _class_score(
    model: Any, layout: Layout, xt: Any, taps: list[Tap], picks: Any, use_top: Any
) -> tuple[Any, dict[str, Any]]:
    """The sum over samples of each one's class score (pre-softmax), and the tapped outputs."""
    tap, softmax = layout.score()
    out, outs = forward(model, layout, xt, taps, stop=tap, linear_activation=softmax)
    logits = outs[tap.name] if tap is not None else out
    if not keras.ops.is_tensor(logits) or len(logits.shape) != 2:
        got = f"shape {tuple(logits.shape)}" if ops.is_tensor(logits) else type(logits).__name__
        raise ValueError(
            f"Expected the model {layout.model_name!r} to output class scores of shape "
            f"(batch, classes), received {got}."
        )
    logits = ops.cast(logits, "float32")
    top = ops.one_hot(ops.argmax(ops.stop_gradient(logits), axis=-1), int(logits.shape[-1]))
    mask = ops.stop_gradient(use_top * ops.cast(top, "float32") + (1.0 - use_top) * picks)
    return ops.sum(logits * mask), outs


def _input_gradient(
    model: Any, layout: Layout, batch: np.ndarray, picks: np.ndarray, use_top: Any
) -> np.ndarray:
    def make(ref: Any) -> Any:
        def objective(xt: Any, picks: Any, use_top: Any) -> tuple[Any, None]:
            return _class_score(ref(), layout, xt, [], picks, use_top)[0], None

        return objective, (0,)

    fn = cached_value_and_grad(model, ("input", batch.shape[1:]), make)
    return scaled_grads(fn, [batch, picks, use_top], layout.float16)[1][0]


def _smoothgrad(
    model: Any,
    layout: Layout,
    batch: np.ndarray,
    picks: np.ndarray,
    use_top: Any,
    samples: int,
    noise: float,
    seed: int,
) -> np.ndarray:
    samples = check_index(samples, 10**6, "samples")
    if samples == 0:
        raise ValueError("Expected samples >= 1 for smoothgrad, received 0.")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"Expected noise >= 0 (a fraction of the value range), received {noise}.")
    if use_top:  # the top prediction of the clean input, kept for every noisy copy
        tap, softmax = layout.score()
        xt = ops.convert_to_tensor(batch)
        out, outs = forward(model, layout, xt, stop=tap, linear_activation=softmax)
        logits = ops.convert_to_numpy(ops.cast(outs[tap.name] if tap else out, "float32"))
        picks = np.eye(picks.shape[1], dtype=np.float32)[np.argmax(logits, axis=-1)]
    rng = np.random.default_rng(seed)
    out = np.zeros_like(batch)
    for b in range(batch.shape[0]):
        sigma = noise * float(batch[b].max() - batch[b].min())
        for start in range(0, samples, SMOOTHGRAD_CHUNK):
            n = min(SMOOTHGRAD_CHUNK, samples - start)
            noisy = batch[b][None] + rng.normal(0, sigma, (n, *batch.shape[1:])).astype("float32")
            grads = _input_gradient(model, layout, noisy, np.repeat(picks[b : b + 1], n, 0), 0.0)
            out[b] += grads.sum(axis=0)
        out[b] /= samples
    return out
