"""Feature visualisation: an input image that makes one channel of a layer fire.

The recipe of Olah, Mordvintsev and Schubert, "Feature Visualization" (Distill, 2017),
as in their Lucid library, so the result shows a pattern rather than adversarial noise:

* the image is parameterised in a decorrelated space: a Fourier spectrum scaled by
  ``1 / frequency`` (a blur prior: high frequencies are expensive) and, for RGB, ImageNet's
  colour decorrelation; a sigmoid keeps pixels inside the value range;
* every step sees a randomly transformed copy (zoomed by 0.9-1.1 and shifted by up to 5%
  of the size, i.e. jitter; grey where it leaves the image), so only features robust to
  small shifts and zooms survive;
* gradient ascent with Adam (learning rate 0.05) on the mean of the channel over its map.

A fused activation (``Conv2D(activation="relu")``) adds a small straight-through term, like
Lucid's "redirected ReLU": a channel that is dead on the grey start still gets a gradient.
Randomness comes from ``numpy.random.default_rng([seed, channel])``: the same seed gives the
same image. Results are cached per model, layer and channel (and settings, and weights).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from .gradients import value_and_grad
from .inputs import check_index, check_model, expected_input_shape
from .maps import LayerInfo
from .probe import Layout, forward, layout_of

ops = keras.ops

#: Size of the image for models whose input size is free (Lucid's default).
DEFAULT_SIZE = 128
#: Weight of the straight-through term through a fused activation.
REDIRECT = 0.05
# Lucid's square root of ImageNet's RGB colour correlation, columns normalised.
_COLOR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
_COLOR = _COLOR_SQRT / np.linalg.norm(_COLOR_SQRT, axis=0).max()

#: ``on_step(done, total)`` after each optimisation step.
OnStep = Callable[[int, int], None]


@dataclass(frozen=True)
class FilterVisualization:
    """An image that excites one channel, and how much it does.

    ``np.asarray(vis)`` (and so ``plt.imshow(vis)``) is ``vis.image``.

    Attributes:
        image: ``(H, W, C)`` float32 in ``[0, 1]``, channels last, ready to show.
        model_input: What the model saw: ``image`` mapped to ``value_range``, preprocessed,
            in the model's layout, with a batch axis.
        layer: Layer name.
        channel: Channel (filter) index.
        activation: Mean of the channel over its map for ``image`` (the layer's output).
        start_activation: The same for the random start image.
        steps: Optimisation steps taken.
        seed: The seed.
    """

    image: np.ndarray = field(repr=False)
    model_input: np.ndarray = field(repr=False)
    layer: str
    channel: int
    activation: float
    start_activation: float
    steps: int
    seed: int

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.image if dtype is None else self.image.astype(dtype)


_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], FilterVisualization]] = (
    weakref.WeakKeyDictionary()
)


def visualize_filter(
    model: Any,
    layer: str,
    channel: int | Sequence[int],
    steps: int = 256,
    size: int | tuple[int, int] | None = None,
    seed: int = 0,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    preprocess: Callable[[Any], Any] | None = None,
    learning_rate: float = 0.05,
    progress: bool = True,
    on_step: OnStep | None = None,
    cache: bool = True,
) -> FilterVisualization | list[FilterVisualization]:
    """Optimise an input image so that channel ``channel`` of ``layer`` fires strongly.

    Args:
        model: A Keras 3 model with one image input.
        layer: Layer name (see :func:`fmwidget.extract`).
        channel: Channel index, or several: they are optimised together as one batch
            (each image on its own channel; the results equal one-by-one runs).
        steps: Gradient-ascent steps.
        size: Image size ``(H, W)`` (an int for a square); default: the model's input size,
            or ``DEFAULT_SIZE`` when that is free.
        seed: Seed of the start image and the random transformations.
        value_range: The pixel range the model expects, e.g. ``(0, 255)``.
        preprocess: Applied to the image (in ``value_range``, the model's layout, a batch)
            before the model, e.g. ``keras.applications.vgg16.preprocess_input``; it must
            use ``keras.ops`` (it is differentiated).
        learning_rate: Adam's step size.
        progress: Show a tqdm progress bar (when tqdm is installed).
        on_step: Called as ``on_step(done, steps)`` after every step.
        cache: Reuse an earlier result for the same model weights and arguments.

    Returns:
        A :class:`FilterVisualization` (a list of them when ``channel`` is a sequence).

    Raises:
        LayerNotFoundError: unknown layer.
        ValueError: bad channel, size or settings, or the layer cannot be reached.
    """
    check_model(model)
    channels = [channel] if isinstance(channel, (int, np.integer)) else list(channel)
    steps = check_index(steps, 10**7, "steps")
    batch_shape, channel_axis = _input_shape(model, size)
    layout = layout_of(model, np.zeros((1, *batch_shape[1:]), np.float32))
    info = layout.info(layer)
    if info.layer is None:
        raise ValueError("Expected a layer inside the model, received 'input'.")
    n_channels = info.channels if info.channels is not None else (info.shape or (1,))[-1]
    channels = [check_index(c, n_channels, "channel") for c in channels]
    lo, hi = (float(v) for v in value_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(
            f"Expected value_range (low, high) with low < high, received {value_range}."
        )
    settings = (steps, tuple(batch_shape[1:]), seed, lo, hi, id(preprocess), learning_rate)
    store = _CACHE.setdefault(model, {}) if cache else {}
    stamp = _weights_stamp(model) if cache else None
    todo = [c for c in channels if (layer, c, settings, stamp) not in store]
    if todo:
        problem = _Problem(model, layout, info, batch_shape, channel_axis, lo, hi, preprocess)
        for result in problem.run(todo, steps, seed, learning_rate, progress, on_step):
            store[(layer, result.channel, settings, stamp)] = result
    results = [store[(layer, c, settings, stamp)] for c in channels]
    return results[0] if isinstance(channel, (int, np.integer)) else results


def _input_shape(model: Any, size: Any) -> tuple[tuple[int, ...], int]:
    """The batch-of-one input shape to optimise, and its channel axis."""
    shape = expected_input_shape(model)
    if shape is None or len(shape) != 4:
        raise ValueError(
            f"Expected a model with a known image input of shape (batch, H, W, C) or "
            f"(batch, C, H, W), received {model.name!r} with input shape {shape}."
        )
    last = shape[3] is not None and (
        shape[1] is None or keras.config.image_data_format() == "channels_last"
    )
    channel_axis = 3 if last else 1
    spatial_axes = (1, 2) if last else (2, 3)
    fixed = tuple(shape[a] for a in spatial_axes)
    if size is not None:
        want = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(want) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 8 for s in want):
            raise ValueError(
                f"Expected size an int or (height, width) of ints >= 8, received {size!r}."
            )
        if any(f is not None and f != w for f, w in zip(fixed, want, strict=True)):
            raise ValueError(
                f"Expected size {fixed} (the input size of {model.name!r} is fixed), "
                f"received {size!r}."
            )
    else:
        want = tuple(f if f is not None else DEFAULT_SIZE for f in fixed)
    out = [1, 0, 0, 0]
    out[channel_axis] = int(shape[channel_axis])
    out[spatial_axes[0]], out[spatial_axes[1]] = int(want[0]), int(want[1])
    return tuple(out), channel_axis


def _weights_stamp(model: Any) -> bytes:
    """A cheap fingerprint of the weights (the cache is stale once they change)."""
    if not model.weights:
        return b""
    sums = ops.stack([ops.sum(ops.cast(v, "float32")) for v in model.weights])
    return np.asarray(ops.convert_to_numpy(sums), np.float32).tobytes()


class _Problem:
    """One optimisation setting: the model up to ``info``, the image parameterisation."""

    def __init__(
        self,
        model: Any,
        layout: Layout,
        info: LayerInfo,
        batch_shape: tuple[int, ...],
        channel_axis: int,
        lo: float,
        hi: float,
        preprocess: Any,
    ):
        self.model, self.layout, self.info = model, layout, info
        self.channel_axis = channel_axis
        self.n_colors = batch_shape[channel_axis]
        self.h, self.w = (s for a, s in enumerate(batch_shape) if a not in (0, channel_axis))
        self.lo, self.hi, self.preprocess = lo, hi, preprocess
        fy = np.fft.fftfreq(self.h)[:, None]
        fx = np.fft.fftfreq(self.w)[None, :]
        freqs = np.sqrt(fx * fx + fy * fy)
        # Lucid's spectrum scale: 1/f (a blur prior), made unitary by sqrt(h * w).
        self.scale = np.sqrt(self.h * self.w) / np.maximum(freqs, 1.0 / max(self.h, self.w))
        self.scale = self.scale.astype(np.float32)
        self.pad = max(1.0, 0.05 * min(self.h, self.w))  # the jitter, in pixels
        self.fused = info.fused_activation is not None and info.layer is not None

    # -- image ---------------------------------------------------------------------------
    def image(self, re: Any, im: Any) -> Any:
        """Spectra ``(B, C, h, w)`` -> images ``(B, h, w, C)`` in ``[0, 1]``."""
        scale = ops.convert_to_tensor(self.scale)
        pixels, _ = ops.ifft2((re * scale, im * scale))
        pixels = ops.transpose(pixels, (0, 2, 3, 1)) / 4.0
        if self.n_colors == 3:
            pixels = ops.matmul(pixels, ops.convert_to_tensor(_COLOR.T))
        return ops.sigmoid(pixels)

    def model_input(self, images: Any) -> Any:
        x = self.lo + (self.hi - self.lo) * images
        if self.channel_axis == 1:
            x = ops.transpose(x, (0, 3, 1, 2))
        if self.preprocess is not None:
            x = self.preprocess(x)
        return x

    def transform(self, images: Any, ry: Any, rx: Any) -> Any:
        """Each image zoomed about its centre and shifted (jitter); grey outside.

        Bilinear resampling written as two matrix products per image, ``R_y @ img @
        R_x^T`` (the matrices from :func:`_resample`), so every step has the same shapes
        (JAX compiles once) and shifts need not be whole pixels.
        """
        centred = ops.transpose(images - 0.5, (0, 3, 1, 2))  # (B, C, h, w)
        out = ops.matmul(ops.matmul(ry[:, None], centred), ops.transpose(rx, (0, 2, 1))[:, None])
        return ops.transpose(out, (0, 2, 3, 1)) + 0.5

    def matrices(self, rngs: list[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
        """One random zoom and shift per image, as ``(R_y, R_x)`` batches."""
        ry, rx = [], []
        for rng in rngs:
            s, dy, dx = self.draw(rng)
            ry.append(_resample(self.h, s, dy))
            rx.append(_resample(self.w, s, dx))
        return np.stack(ry), np.stack(rx)

    def draw(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """One random (scale, row shift, column shift); shifts within ``pad`` pixels."""
        s = float(rng.uniform(0.9, 1.1))
        dy, dx = rng.uniform(-self.pad, self.pad, 2)
        return s, float(dy), float(dx)

    # -- objective -----------------------------------------------------------------------
    def activations(self, x: Any, channels: list[int], redirect: bool) -> Any:
        """Per-image mean of its channel over the map: ``(B,)`` (float32)."""
        info = self.info
        linear = info.layer if (redirect and self.fused) else None
        _, outs = forward(self.model, self.layout, x, stop=info, linear_activation=linear)
        out = outs[info.name]
        pre = None
        if linear is not None:  # the pass ran without the activation: apply it here
            pre, out = out, info.layer.activation(out)
        axis = 1 if info.data_format == "channels_first" and info.spatial_shape else -1
        picks = ops.convert_to_tensor(np.asarray(channels, "int32"))
        mask = ops.one_hot(picks, int(out.shape[axis]), dtype="float32")
        shape = [len(channels)] + [1] * (len(out.shape) - 1)
        shape[axis] = int(out.shape[axis])
        mask = ops.reshape(mask, shape)
        reduce = tuple(range(1, len(out.shape)))
        means = ops.sum(ops.cast(out, "float32") * mask, axis=reduce)
        cells = float(np.prod(out.shape[1:])) / int(out.shape[axis])
        means = means / cells
        if pre is not None:
            means = means + REDIRECT * ops.sum(ops.cast(pre, "float32") * mask, axis=reduce) / cells
        return means

    def measure(
        self, re: np.ndarray, im: np.ndarray, channels: list[int]
    ) -> tuple[Any, np.ndarray]:
        """``(images, activations)`` of the untransformed images (no gradient)."""
        images = self.image(ops.convert_to_tensor(re), ops.convert_to_tensor(im))
        acts = self.activations(self.model_input(images), channels, redirect=False)
        return np.asarray(ops.convert_to_numpy(images), np.float32), np.asarray(
            ops.convert_to_numpy(acts), np.float32
        )

    # -- optimisation ----------------------------------------------------------------------
    def run(
        self,
        channels: list[int],
        steps: int,
        seed: int,
        learning_rate: float,
        progress: bool,
        on_step: OnStep | None,
    ) -> list[FilterVisualization]:
        rngs = [np.random.default_rng([seed, c]) for c in channels]
        spec = (len(channels), self.n_colors, self.h, self.w)
        re = np.stack([r.normal(0, 0.01, spec[1:]) for r in rngs]).astype(np.float32)
        im = np.stack([r.normal(0, 0.01, spec[1:]) for r in rngs]).astype(np.float32)
        _, start = self.measure(re, im, channels)
        adam = _Adam(learning_rate, [re, im])
        scale = 2.0**10 if self.layout.float16 else 1.0

        def objective(re_t: Any, im_t: Any, ry: Any, rx: Any) -> tuple[Any, None]:
            images = self.transform(self.image(re_t, im_t), ry, rx)
            acts = self.activations(self.model_input(images), channels, redirect=True)
            return ops.sum(acts), None

        grad_fn = value_and_grad(objective, wrt=(0, 1), state=self.model.variables)
        bar = _bar(steps, f"{self.info.name}[{', '.join(map(str, channels))}]", progress)
        try:
            for step in range(steps):
                ry, rx = self.matrices(rngs)
                _, _, grads = grad_fn(re, im, ry, rx, loss_scale=scale)
                if not all(np.isfinite(g).all() for g in grads):
                    scale = max(1.0, scale / 8)
                    continue
                re, im = adam.ascend([re, im], grads)
                if bar is not None:
                    bar.update(1)
                if on_step is not None:
                    on_step(step + 1, steps)
        finally:
            if bar is not None:
                bar.close()
        images, final = self.measure(re, im, channels)
        inputs = np.asarray(ops.convert_to_numpy(self.model_input(ops.convert_to_tensor(images))))
        return [
            FilterVisualization(
                image=images[b],
                model_input=inputs[b : b + 1].astype(np.float32),
                layer=self.info.name,
                channel=c,
                activation=float(final[b]),
                start_activation=float(start[b]),
                steps=steps,
                seed=seed,
            )
            for b, c in enumerate(channels)
        ]


def _resample(n: int, scale: float, shift: float) -> np.ndarray:
    """``(n, n)`` bilinear weights: output ``i`` reads ``(i - c) / scale + c + shift``.

    ``c`` is the centre; sources outside ``[0, n)`` get no weight (they read as grey).
    """
    c = (n - 1) / 2
    src = (np.arange(n) - c) / scale + c + shift
    lo = np.floor(src).astype(int)
    w = src - lo
    out = np.zeros((n, n), np.float32)
    for idx, weight in ((lo, 1 - w), (lo + 1, w)):
        ok = (idx >= 0) & (idx < n)
        np.add.at(out, (np.arange(n)[ok], idx[ok]), weight[ok])
    return out


class _Adam:
    """Adam (Kingma and Ba) on numpy arrays, for gradient *ascent*."""

    def __init__(self, lr: float, params: list[np.ndarray]):
        self.lr, self.t = lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def ascend(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        out = []
        for k, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**self.t)
            v_hat = self.v[k] / (1 - b2**self.t)
            out.append((p + self.lr * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32))
        return out


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=f"visualize {desc}", leave=False)
