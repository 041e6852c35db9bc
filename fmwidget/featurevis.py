"""Feature visualisation: an input image that makes one channel of a layer fire.

The recipe of Olah, Mordvintsev and Schubert, "Feature Visualization" (Distill, 2017),
as in their Lucid library (the image side lives in :mod:`fmwidget.lucid`), so the result
shows a pattern rather than adversarial noise:

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

from .explain import layout_of
from .gradients import value_and_grad
from .lucid import Adam, ImageParam
from .maps import LayerInfo
from .probe import Layout, forward
from .validation import check_index, check_model, expected_input_shape

ops = keras.ops

#: Size of the image for models whose input size is free (Lucid's default).
DEFAULT_SIZE = 128
#: Weight of the straight-through term through a fused activation.
REDIRECT = 0.05

#: ``on_step(done, total)`` after each optimisation step.
OnStep = Callable[[int, int], None]


@dataclass(frozen=True)
class FilterVisualization:
    """An image that excites one channel, and how much it does.

    ``np.asarray(vis)`` (and so ``plt.imshow(vis)``) is ``vis.image``.

    Attributes:
        image: ``(H, W, C)`` float32 in ``[0, 1]``, channels last, ready to show; for a 1-D
            model ``(T, C)``, for a 3-D model ``(D, H, W, C)``.
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
# One optimisation set-up (and its compiled gradient on JAX) per model, layer and setting.
_PROBLEMS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], _Problem]] = (
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
        model: A Keras 3 model with one image input (or a time series or volume input:
            Conv1D and Conv3D models).
        layer: Layer name (see :func:`fmwidget.extract`).
        channel: Channel index, or several: they are optimised together as one batch
            (each image on its own channel; the results equal one-by-one runs).
        steps: Gradient-ascent steps.
        size: Image size ``(H, W)`` (an int for a square; ``(T,)`` for a time series,
            ``(D, H, W)`` for a volume); default: the model's input size, or
            ``DEFAULT_SIZE`` when that is free.
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
        problems = _PROBLEMS.setdefault(model, {})
        key = (layer, batch_shape, lo, hi, id(preprocess))
        problem = problems.get(key)
        if problem is None or problem.preprocess is not preprocess:
            problem = problems[key] = _Problem(
                model, layout, info, batch_shape, channel_axis, lo, hi, preprocess
            )
        for result in problem.run(todo, steps, seed, learning_rate, progress, on_step):
            store[(layer, result.channel, settings, stamp)] = result
    results = [store[(layer, c, settings, stamp)] for c in channels]
    return results[0] if isinstance(channel, (int, np.integer)) else results


#: What the spatial axes are called, per spatial rank (for messages).
_SIZE_WORDS = {1: "(time steps,)", 2: "(height, width)", 3: "(depth, height, width)"}


def _input_shape(model: Any, size: Any) -> tuple[tuple[int, ...], int]:
    """The batch-of-one input shape to optimise, and its channel axis.

    Images ``(batch, H, W, C)``, time series ``(batch, T, C)`` and volumes
    ``(batch, D, H, W, C)``, channels last or first.
    """
    shape = expected_input_shape(model)
    if shape is None or len(shape) not in (3, 4, 5):
        raise ValueError(
            f"Expected a model with a known input of shape (batch, T, C), (batch, H, W, C) or "
            f"(batch, D, H, W, C) (or channels first), received {model.name!r} with input "
            f"shape {shape}."
        )
    rank = len(shape) - 2
    last = shape[-1] is not None and (
        shape[1] is None or keras.config.image_data_format() == "channels_last"
    )
    channel_axis = rank + 1 if last else 1
    spatial_axes = tuple(range(1, rank + 1)) if last else tuple(range(2, rank + 2))
    fixed = tuple(shape[a] for a in spatial_axes)
    words = _SIZE_WORDS[rank]
    if size is not None:
        want = (size,) * rank if isinstance(size, (int, np.integer)) else tuple(size)
        if len(want) != rank or not all(isinstance(s, (int, np.integer)) and s >= 8 for s in want):
            raise ValueError(f"Expected size an int or {words} of ints >= 8, received {size!r}.")
        if any(f is not None and f != w for f, w in zip(fixed, want, strict=True)):
            raise ValueError(
                f"Expected size {fixed} (the input size of {model.name!r} is fixed), "
                f"received {size!r}."
            )
    else:
        want = tuple(f if f is not None else DEFAULT_SIZE for f in fixed)
    out = [1] * (rank + 2)
    out[channel_axis] = int(shape[channel_axis])
    for a, n in zip(spatial_axes, want, strict=True):
        out[a] = int(n)
    return tuple(out), channel_axis


def _weights_stamp(model: Any) -> bytes:
    """A cheap fingerprint of the weights (the cache is stale once they change).

    Per variable: the sum, the sum of squares and a position-weighted sum (so a rescaled
    zero-sum kernel or swapped values change it too).
    """
    if not model.weights:
        return b""
    parts = []
    for v in model.weights:
        flat = ops.reshape(ops.cast(v, "float32"), (-1,))
        ramp = ops.arange(int(flat.shape[0]), dtype="float32") / max(int(flat.shape[0]), 1)
        parts += [ops.sum(flat), ops.sum(flat * flat), ops.sum(flat * ramp)]
    return np.asarray(ops.convert_to_numpy(ops.stack(parts)), np.float32).tobytes()


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
        # A weak reference: the problem is cached per model and must not keep it alive.
        self._model = weakref.ref(model)
        self.layout, self.info = layout, info
        self.channel_axis = channel_axis
        self.n_colors = batch_shape[channel_axis]
        spatial = tuple(s for a, s in enumerate(batch_shape) if a not in (0, channel_axis))
        self.lo, self.hi, self.preprocess = lo, hi, preprocess
        self.param = ImageParam(spatial, self.n_colors)
        self.fused = info.fused_activation is not None and info.layer is not None
        self.grad_fn = value_and_grad(self.objective, wrt=(0, 1), state=model.variables)

    @property
    def model(self) -> Any:
        return self._model()

    def model_input(self, images: Any) -> Any:
        x = self.lo + (self.hi - self.lo) * images
        if self.channel_axis == 1:  # (B, *spatial, C) -> (B, C, *spatial)
            n = len(x.shape)
            x = ops.transpose(x, (0, n - 1, *range(1, n - 1)))
        if self.preprocess is not None:
            x = self.preprocess(x)
        return x

    # -- objective -----------------------------------------------------------------------
    def activations(self, x: Any, picks: Any, redirect: bool) -> Any:
        """Per-image mean of its channel over the map: ``(B,)`` (float32).

        ``picks`` is ``(B, channels)``, one-hot: which channel each image is for.
        """
        info = self.info
        linear = info.layer if (redirect and self.fused) else None
        _, outs = forward(self.model, self.layout, x, stop=info, linear_activation=linear)
        out = outs[info.name]
        pre = None
        if linear is not None:  # the pass ran without the activation: apply it here
            pre, out = out, info.layer.activation(out)
        axis = 1 if info.data_format == "channels_first" and info.spatial_shape else -1
        shape = [int(picks.shape[0])] + [1] * (len(out.shape) - 1)
        shape[axis] = int(out.shape[axis])
        mask = ops.reshape(picks, shape)
        reduce = tuple(range(1, len(out.shape)))
        cells = float(np.prod(out.shape[1:])) / int(out.shape[axis])
        means = ops.sum(ops.cast(out, "float32") * mask, axis=reduce) / cells
        if pre is not None:
            means = means + REDIRECT * ops.sum(ops.cast(pre, "float32") * mask, axis=reduce) / cells
        return means

    def objective(self, re: Any, im: Any, *rest: Any) -> tuple[Any, None]:
        """The sum over inputs of their channel's mean, on randomly transformed inputs.

        ``rest`` is one resampling matrix per spatial axis, then the picks.
        """
        *resamples, picks = rest
        images = self.param.transform(self.param.image(re, im), *resamples)
        return ops.sum(self.activations(self.model_input(images), picks, redirect=True)), None

    def picks(self, channels: list[int]) -> np.ndarray:
        n = self.info.channels if self.info.channels is not None else self.info.shape[-1]
        return np.eye(n, dtype=np.float32)[channels]

    def measure(
        self, re: np.ndarray, im: np.ndarray, channels: list[int]
    ) -> tuple[Any, np.ndarray]:
        """``(images, activations)`` of the untransformed images (no gradient)."""
        images = self.param.image(ops.convert_to_tensor(re), ops.convert_to_tensor(im))
        picks = ops.convert_to_tensor(self.picks(channels))
        acts = self.activations(self.model_input(images), picks, redirect=False)
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
        starts = [self.param.start(r) for r in rngs]
        re = np.stack([s[0] for s in starts])
        im = np.stack([s[1] for s in starts])
        _, start = self.measure(re, im, channels)
        adam = Adam(learning_rate, [re, im])
        scale = 2.0**10 if self.layout.float16 else 1.0
        picks = self.picks(channels)
        bar = _bar(steps, f"{self.info.name}[{', '.join(map(str, channels))}]", progress)
        try:
            for step in range(steps):
                resamples = self.param.matrices(rngs)
                while True:
                    _, _, grads = self.grad_fn(re, im, *resamples, picks, loss_scale=scale)
                    if scale == 1.0 or all(np.isfinite(g).all() for g in grads):
                        break
                    scale = max(1.0, scale / 32)  # float16 overflowed: scale down, redo
                grads = [np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0) for g in grads]
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


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=f"visualize {desc}", leave=False)
