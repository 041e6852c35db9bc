"""Ground truth for receptive fields that does not use fmwidget's geometry.

Perturbation: a batch in which sample ``k`` is the base image with input pixel ``k`` (all
channels) moved by ``delta``; a cell's empirical field is the set of pixels whose sample
changed that cell (any channel). Values come from ``fmwidget.extract`` (tested equal to
Keras's own sub-models elsewhere), so no geometry code is involved. On a model without
dead ReLUs or max pooling the empirical field is the whole field; otherwise a subset.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

import fmwidget
from fmwidget.geometry import NotSeparableError, bounding_slices


def probe_pixels(spatial: tuple[int, ...], limit: int | None, seed: int = 0) -> np.ndarray:
    """Pixels to perturb: all of them, or ``limit`` of them spread over the image."""
    pixels = np.array(list(np.ndindex(*spatial)))
    if limit is None or len(pixels) <= limit:
        return pixels
    rng = np.random.default_rng(seed)
    corners = [p for p in pixels if all(v in (0, n - 1) for v, n in zip(p, spatial, strict=True))]
    rest = rng.choice(len(pixels), limit - len(corners), replace=False)
    return np.concatenate([np.array(corners), pixels[rest]])


def perturbation_fields(
    model,
    x: np.ndarray,
    names: Iterable[str],
    pixels: np.ndarray,
    data_format: str = "channels_last",
    delta: float = 0.5,
    chunk: int = 128,
) -> dict[str, np.ndarray]:
    """For each layer: bool ``(len(pixels), *spatial)``: did moving that pixel change the cell."""
    names = list(names)
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    base: dict[int, fmwidget.FeatureMaps] = {}
    for start in range(0, len(pixels), chunk):
        part = pixels[start : start + chunk]
        batch = np.repeat(x[None], len(part), axis=0)
        # The reference is the unmoved image at the same batch position and batch size:
        # matrix kernels may round a row differently at another position or batch size.
        if len(part) not in base:
            base[len(part)] = fmwidget.extract(model, batch.copy())
        ref = base[len(part)]
        for k, p in enumerate(part):
            if data_format == "channels_first":
                batch[(k, slice(None), *p)] += delta
            else:
                batch[(k, *p)] += delta
        fm = fmwidget.extract(model, batch)
        for n in names:
            info = fm.info(n)
            diff = fm[n] != ref[n]
            axis = 1 if info.data_format == "channels_first" else -1
            out[n].append(diff.any(axis=axis))
    return {n: np.concatenate(v) for n, v in out.items()}


def check_against_truth(
    fm: fmwidget.FeatureMaps,
    fields: dict[str, np.ndarray],
    pixels: np.ndarray,
    equal: bool,
    exact_cells: int = 4,
) -> None:
    """Every empirical field lies inside fmwidget's (tables and masks); equal if ``equal``.

    Checks every cell against the interval tables (the box of the empirical field inside
    the table's box, and equal to it when ``equal``), and ``exact_cells`` cells per layer
    (corners first) against the exact masks: pixels outside the mask never move the cell.
    """
    in_spatial = fm.layers[0].spatial_shape
    complete = len(pixels) == int(np.prod(in_spatial))
    for name, moved in fields.items():
        spatial = moved.shape[1:]
        try:
            tables = fm.receptive_field_table(name)
        except NotSeparableError:  # no per-axis table: every cell's own box instead
            tables = None
        for cell in np.ndindex(*spatial):
            hit = pixels[moved[(slice(None), *cell)]]
            if tables is None:
                box = fm.receptive_field(name, cell)
                boxes = [(s.start, s.stop) for s in box]
            else:
                boxes = [tables[a][cell[a]] for a in range(len(spatial))]
            for a, (lo, hi) in enumerate(boxes):
                if hit.size:
                    assert lo <= hit[:, a].min() and hit[:, a].max() < hi, (name, cell, a)
                if equal and complete:
                    seen = (hit[:, a].min(), hit[:, a].max() + 1) if hit.size else (0, 0)
                    empty = not hit.size or any(hi_ <= lo_ for lo_, hi_ in boxes)
                    assert empty == (not hit.size), (name, cell, boxes)
                    if hit.size:
                        assert (lo, hi) == seen, (name, cell, a, (lo, hi), seen)
        corners = [
            tuple(0 if c == 0 else n - 1 for c, n in zip(bits, spatial, strict=True))
            for bits in np.ndindex(*(2,) * len(spatial))
        ]
        middle = tuple(n // 2 for n in spatial)
        for cell in [*corners, middle][:exact_cells]:
            mask = fm.receptive_field_mask(name, cell)
            inside = mask[tuple(pixels.T)]
            hit = moved[(slice(None), *cell)]
            assert not (hit & ~inside).any(), f"{name} {cell}: a pixel outside the field moved it"
            if equal:
                assert (hit == inside).all(), f"{name} {cell}: field differs from the truth"
                if tables is not None:
                    box = bounding_slices(mask)
                    table_box = tuple(slice(*tables[a][cell[a]]) for a in range(len(spatial)))
                    assert _same_box(box, table_box), (name, cell, box, table_box)


def _same_box(a: tuple[slice, ...], b: tuple[slice, ...]) -> bool:
    empty_a = any(s.stop <= s.start for s in a)
    empty_b = any(s.stop <= s.start for s in b)
    if empty_a or empty_b:
        return empty_a and empty_b
    return all((s.start, s.stop) == (t.start, t.stop) for s, t in zip(a, b, strict=True))


def gradient_support(model, x: np.ndarray, tensor, cell: tuple[int, ...]) -> np.ndarray:
    """Input pixels where d(weighted sum over channels of the cell) / d(input) is not zero.

    The channel weights are random: a plain sum can be constant (LayerNormalization's
    outputs sum to zero over the channels), which would hide the whole field.

    ``tensor`` is a symbolic output of ``model``'s graph (a layer's or an operation's
    ``.output``). Uses the backend's own autodiff, nothing of fmwidget.
    """
    import keras

    sub = keras.Model(model.inputs, tensor)
    batch = x[None].astype("float32")
    backend = keras.backend.backend()

    channels = tuple(tensor.shape)[-1]
    weights = keras.ops.convert_to_tensor(
        np.random.default_rng(1).uniform(0.5, 1.5, channels).astype("float32")
    )

    def cell_sum(y):
        return keras.ops.sum(y[(0, *cell)] * weights)  # channels_last: the cell's channels

    if backend == "jax":
        import jax

        grad = np.asarray(jax.grad(lambda z: cell_sum(sub(z, training=False)))(batch))
    elif backend == "tensorflow":
        import tensorflow as tf

        z = tf.constant(batch)
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = cell_sum(sub(z, training=False))
        grad = tape.gradient(value, z).numpy()
    else:
        import torch

        z = torch.tensor(batch, requires_grad=True)
        cell_sum(sub(z, training=False)).backward()
        grad = z.grad.numpy()
    return (np.abs(grad[0]) > 0).any(axis=-1)
