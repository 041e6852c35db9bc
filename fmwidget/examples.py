"""``top_examples``: for every filter, the dataset samples that excite it most.

A sample's score for a channel is the maximum of that channel's map over all spatial
positions (the layer's own output, after any fused activation). The data is streamed: one
forward pass per batch, the per-channel maxima and the running top-k reduced on the Keras
backend (:mod:`fmwidget.topk`), so memory does not grow with the dataset. The winning
samples are kept as they stream by (only those still in some top-k), and the crops are
cut at the end from the exact receptive-field boxes (:meth:`FeatureMaps.receptive_field`).

``engine="ray"`` runs the same step on Ray Data (:mod:`fmwidget.ray_engine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from .batches import Chunk, chunks, sample_count
from .maps import FeatureMaps
from .scan import OnProgress, Progress, SampleKeeper, build_result, plan
from .topexamples import TopExamples
from .topk import ScoreStep, Slot, State
from .validation import check_model, expected_input_shape

ENGINES = ("local", "ray")


def _check_args(model: Any, k: Any, batch_size: Any, engine: Any) -> None:
    check_model(model)
    for name, value in (("k", k), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"Expected an int {name}, received {type(value).__name__} {value!r}.")
        if value <= 0:
            raise ValueError(f"Expected {name} >= 1, received {int(value)}.")
    if engine not in ENGINES:
        raise ValueError(f"Expected engine 'local' or 'ray', received {engine!r}.")


def top_examples(
    model: Any,
    data: Any,
    layers: str | Sequence[str] | None = None,
    k: int = 9,
    batch_size: int = 64,
    engine: str = "local",
    *,
    keep_samples: bool = True,
    progress: bool = True,
    on_progress: OnProgress | None = None,
    ray_options: dict[str, Any] | None = None,
) -> TopExamples:
    """For every channel of every chosen layer, the ``k`` samples that excite it most.

    Args:
        model: A Keras 3 model with one input (see :func:`fmwidget.extract`).
        data: A numpy array of samples; a ``keras.utils.PyDataset``; a ``tf.data.Dataset``;
            a torch ``DataLoader``; any iterable of batches (arrays, or ``(x, y)`` /
            ``(x, y, w)`` tuples of which only ``x`` is used); with ``engine="ray"`` also a
            ``ray.data.Dataset``. Integer images are cast to float32, not rescaled.
        layers: A name or names (default: every spatial convolution, activation and
            pooling layer).
        k: Examples per channel.
        batch_size: Samples per forward pass (source batches are re-cut to this size).
        engine: ``"local"`` or ``"ray"`` (Ray Data; ``pip install "fmwidget[ray]"``).
        keep_samples: Keep the winning samples so :meth:`TopExamples.patches` works
            (at most ``channels * k`` samples, whatever the dataset size).
        progress: Show a progress bar (tqdm; a widget in notebooks).
        on_progress: Called as ``on_progress(done, total)`` with samples scanned so far
            (``total`` is None when the source cannot tell).
        ray_options: Extra ``map_batches`` arguments for ``engine="ray"`` (e.g.
            ``{"concurrency": 4, "num_gpus": 1}``).

    Returns:
        A :class:`TopExamples`. Interrupting (KeyboardInterrupt) returns nothing and
        leaves the model as it was.

    Raises:
        TypeError / ValueError: bad arguments or data, each saying what was expected and
            what was received (a batch of the wrong shape is named by its index).
    """
    _check_args(model, k, batch_size, engine)
    if engine == "ray":
        from .ray_engine import run_ray

        return run_ray(
            model, data, layers, int(k), int(batch_size), keep_samples, progress,
            on_progress, ray_options or {},
        )  # fmt: skip
    report = Progress(sample_count(data), progress, on_progress)
    try:
        fm, slots, state, keeper = _run_local(model, data, layers, int(k), int(batch_size), report)
    finally:
        report.close()
    return build_result(fm, slots, state, report.done, keeper if keep_samples else None)


def _run_local(
    model: Any, data: Any, layers: Any, k: int, batch_size: int, report: Progress
) -> tuple[FeatureMaps, list[Slot], State, SampleKeeper]:
    """Stream ``data`` through the step. The state is read once per window of batches
    (:func:`window_size`), one window behind: the step (on JAX, asynchronous) runs ahead
    while the winners of the window before are kept, and reads cost nothing per batch."""
    shape = expected_input_shape(model)
    keeper = SampleKeeper()
    step = carry = fm = slots = None
    size = 1
    window: list[Chunk] = []  # chunks merged since the last mark
    behind: tuple[Any, list[Chunk]] | None = None  # the last mark and its window
    for chunk in chunks(data, batch_size, shape[1:] if shape else None):
        if step is None:
            fm, slots = cached_plan(model, chunk.x[:1], layers)
            step = cached_step(model, slots, k, chunk.x.shape)
            carry = step.carry(State.empty(sum(s.channels for s in slots), k))
            size = window_size(chunk)
        window.append(chunk)
        carry = step.advance(carry, chunk.x, chunk.ids, flush=len(window) == size)
        remember_step(model, step, chunk.x.shape)
        if len(window) == size:
            if behind is not None:  # read while the step runs on
                _keep(keeper, report, step.collect(behind[0]), behind[1])
            behind, window = (carry, window), []
    assert step is not None and fm is not None and slots is not None
    state = step.collect(carry)
    _keep(keeper, report, state, (behind[1] if behind else []) + window)
    return fm, slots, state, keeper


#: Raw bytes of the samples held back for one window of batches (at most).
WINDOW_BYTES = 4 << 20
#: Batches per window (at most).
WINDOW_BATCHES = 8


def window_size(chunk: Chunk) -> int:
    """Batches between reads of the state: up to 8, while their samples fit in 4 MiB."""
    return int(np.clip(WINDOW_BYTES // max(chunk.raw.nbytes, 1), 1, WINDOW_BATCHES))


def _keep(keeper: SampleKeeper, report: Progress, state: State, window: list[Chunk]) -> None:
    if window:
        keeper.update(window, state)
        report.add(sum(len(c.raw) for c in window))


#: Compiled steps live on the model itself (a reference cycle the garbage collector frees
#: with the model), so a second call on the same model and layers compiles nothing.
_CACHE = "_fmwidget_score_steps"


def _step_key(step_or_slots: Any, k: int, shape: tuple[int, ...]) -> tuple[Any, ...]:
    slots = getattr(step_or_slots, "slots", step_or_slots)
    return (tuple(slots), k, tuple(shape))


def cached_step(model: Any, slots: list[Slot], k: int, shape: tuple[int, ...]) -> ScoreStep:
    """A compiled step for these layers, ``k`` and batch shape (reused when seen before)."""
    steps = model.__dict__.get(_CACHE, {})
    return steps.get(_step_key(slots, k, shape)) or ScoreStep(model, slots, k)


def remember_step(model: Any, step: ScoreStep, shape: tuple[int, ...]) -> None:
    """Keep ``step`` after it ran once (an interrupted first run is not kept)."""
    steps = model.__dict__.setdefault(_CACHE, {})  # not setattr: Keras would track it
    key = _step_key(step, step.k, shape)
    if steps.get(key) is not step:
        steps.clear()  # one compiled step per model is enough
        steps[key] = step


#: The last plan, on the model as the steps are: its layers' names, shapes and geometry
#: depend only on the model's structure, not on its weights.
_PLANS = "_fmwidget_scan_plans"


def cached_plan(model: Any, x: np.ndarray, layers: Any) -> tuple[FeatureMaps, list[Slot]]:
    """:func:`plan` for one sample ``x``, reused while the model's layers are the same
    objects, when every one of them is a Keras class other than ``Lambda`` (whose calls
    do not change between passes; a subclassed model is planned on each call)."""
    if layers is not None and not isinstance(layers, str):
        layers = tuple(layers)  # an iterator would be used up by the key
    key = _plan_key(model, layers, x.shape)
    plans = model.__dict__.get(_PLANS, {})
    if key is not None and key in plans:
        return plans[key]
    fm, slots = plan(model, x, layers)
    if key is not None:
        model.__dict__[_PLANS] = {key: (fm, slots)}  # not setattr: Keras would track it
    return fm, slots


def _plan_key(model: Any, layers: Any, shape: tuple[int, ...]) -> tuple[Any, ...] | None:
    try:
        hash(layers)
    except TypeError:  # not names: plan() says what it expected
        return None
    everything = list(model._flatten_layers(include_self=True, recursive=True))
    for layer in everything:
        if not type(layer).__module__.startswith("keras.") or isinstance(
            layer, keras.layers.Lambda
        ):
            return None
    return layers, tuple(shape), tuple(id(layer) for layer in everything)
