"""The input side of feature visualisation (Lucid's recipe): parameterisation, transforms, Adam.

* :class:`ImageParam` maps free parameters to an input (an image; a time series or a volume
  for 1-D and 3-D models): a Fourier spectrum scaled by ``1 / frequency`` (a blur prior:
  high frequencies cost more), for RGB ImageNet's colour decorrelation, then a sigmoid into
  ``[0, 1]``. Built from ``keras.ops`` only, so it is differentiated on every backend.
* :meth:`ImageParam.transform` zooms (0.9-1.1) and shifts (up to 5% of the size) each input
  at random along every spatial axis, grey outside: only features robust to small shifts
  and zooms survive.
* :class:`Adam` steps the parameters in numpy (deterministic, backend-free).

See Olah, Mordvintsev and Schubert, "Feature Visualization", Distill 2017.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

ops = keras.ops

# Lucid's square root of ImageNet's RGB colour correlation, columns normalised.
_COLOR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOR = _COLOR_SQRT / np.linalg.norm(_COLOR_SQRT, axis=0).max()
#: Standard deviation of the random start spectrum (Lucid's).
START_SD = 0.01


class ImageParam:
    """Inputs of spatial shape ``shape`` (1-D, 2-D or 3-D) and ``colors`` channels.

    The free parameters are spectra ``(B, colors, *shape)`` (real and imaginary parts).
    """

    def __init__(self, shape: tuple[int, ...], colors: int):
        self.shape, self.colors = tuple(int(n) for n in shape), colors
        axes = np.meshgrid(*(np.fft.fftfreq(n) for n in self.shape), indexing="ij")
        freqs = np.sqrt(sum(f * f for f in axes))
        size = float(np.prod(self.shape))
        # Lucid's spectrum scale: 1/f, made unitary by sqrt(number of cells).
        self.scale = (np.sqrt(size) / np.maximum(freqs, 1.0 / max(self.shape))).astype(np.float32)
        self.jitter = max(1.0, 0.05 * min(self.shape))  # the largest shift, in cells
        # The inverse DFT along each axis as (cos, sin) matrices (1-D and 3-D: keras.ops has
        # an inverse FFT in 2-D only); row f, column t: exp(2 pi i f t / n) / n.
        self._idft = [_idft(n) for n in self.shape] if len(self.shape) != 2 else []

    def start(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random start: real and imaginary spectra of one input."""
        shape = (self.colors, *self.shape)
        return (
            rng.normal(0, START_SD, shape).astype(np.float32),
            rng.normal(0, START_SD, shape).astype(np.float32),
        )

    def image(self, re: Any, im: Any) -> Any:
        """Spectra ``(B, C, *shape)`` -> inputs ``(B, *shape, C)`` in ``[0, 1]``."""
        scale = ops.convert_to_tensor(self.scale)
        re, im = re * scale, im * scale
        if not self._idft:
            pixels, _ = ops.ifft2((re, im))
        else:
            for k, (cos, sin) in enumerate(self._idft):
                axis = 2 + k
                r, i = ops.swapaxes(re, axis, -1), ops.swapaxes(im, axis, -1)
                c, s = ops.convert_to_tensor(cos), ops.convert_to_tensor(sin)
                re = ops.swapaxes(ops.matmul(r, c) - ops.matmul(i, s), axis, -1)
                im = ops.swapaxes(ops.matmul(r, s) + ops.matmul(i, c), axis, -1)
            pixels = re
        rank = len(self.shape)
        pixels = ops.transpose(pixels, (0, *range(2, 2 + rank), 1)) / 4.0
        if self.colors == 3:
            pixels = ops.matmul(pixels, ops.convert_to_tensor(COLOR.T))
        return ops.sigmoid(pixels)

    def transform(self, images: Any, *resamples: Any) -> Any:
        """Each input zoomed about its centre and shifted (jitter); grey outside.

        Bilinear resampling written as one matrix product per spatial axis (the matrices of
        :meth:`matrices`, ``(B, n, n)`` each), so every step has the same shapes (JAX
        compiles once) and shifts need not be whole cells.
        """
        out = images - 0.5  # (B, *shape, C)
        rank = len(self.shape)
        for k, r in enumerate(resamples):
            axis = 1 + k
            moved = ops.swapaxes(out, axis, -1)  # (B, ..., n): the axis last
            rt = ops.reshape(ops.transpose(r, (0, 2, 1)), (-1, *([1] * (rank - 1)), *r.shape[1:]))
            out = ops.swapaxes(ops.matmul(moved, rt), axis, -1)
        return out + 0.5

    def matrices(self, rngs: list[np.random.Generator]) -> list[np.ndarray]:
        """One random zoom and shift per input (one generator each): a ``(B, n, n)`` per axis."""
        per_axis: list[list[np.ndarray]] = [[] for _ in self.shape]
        for rng in rngs:
            s = float(rng.uniform(0.9, 1.1))
            shifts = rng.uniform(-self.jitter, self.jitter, len(self.shape))
            for k, n in enumerate(self.shape):
                per_axis[k].append(resample(n, s, float(shifts[k])))
        return [np.stack(m) for m in per_axis]


def _idft(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cos, sin)`` parts of the ``(n, n)`` inverse DFT matrix (numpy's ``ifft`` scaling)."""
    angle = 2 * np.pi * np.outer(np.arange(n), np.arange(n)) / n
    return (np.cos(angle) / n).astype(np.float32), (np.sin(angle) / n).astype(np.float32)


def resample(n: int, scale: float, shift: float) -> np.ndarray:
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


class Adam:
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
