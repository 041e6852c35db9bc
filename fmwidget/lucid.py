"""The image side of feature visualisation (Lucid's recipe): parameterisation, transforms, Adam.

* :class:`ImageParam` maps free parameters to an image: a Fourier spectrum scaled by
  ``1 / frequency`` (a blur prior: high frequencies cost more), for RGB ImageNet's colour
  decorrelation, then a sigmoid into ``[0, 1]``. Built from ``keras.ops`` only, so it is
  differentiated on every backend.
* :meth:`ImageParam.transform` zooms (0.9-1.1) and shifts (up to 5% of the size) each image
  at random, grey outside: only features robust to small shifts and zooms survive.
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
    """Images of ``(h, w)`` pixels and ``colors`` channels from spectra ``(B, colors, h, w)``."""

    def __init__(self, h: int, w: int, colors: int):
        self.h, self.w, self.colors = h, w, colors
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.fftfreq(w)[None, :]
        freqs = np.sqrt(fx * fx + fy * fy)
        # Lucid's spectrum scale: 1/f, made unitary by sqrt(h * w).
        self.scale = (np.sqrt(h * w) / np.maximum(freqs, 1.0 / max(h, w))).astype(np.float32)
        self.jitter = max(1.0, 0.05 * min(h, w))  # the largest shift, in pixels

    def start(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random start: real and imaginary spectra of one image."""
        shape = (self.colors, self.h, self.w)
        return (
            rng.normal(0, START_SD, shape).astype(np.float32),
            rng.normal(0, START_SD, shape).astype(np.float32),
        )

    def image(self, re: Any, im: Any) -> Any:
        """Spectra ``(B, C, h, w)`` -> images ``(B, h, w, C)`` in ``[0, 1]``."""
        scale = ops.convert_to_tensor(self.scale)
        pixels, _ = ops.ifft2((re * scale, im * scale))
        pixels = ops.transpose(pixels, (0, 2, 3, 1)) / 4.0
        if self.colors == 3:
            pixels = ops.matmul(pixels, ops.convert_to_tensor(COLOR.T))
        return ops.sigmoid(pixels)

    def transform(self, images: Any, ry: Any, rx: Any) -> Any:
        """Each image zoomed about its centre and shifted (jitter); grey outside.

        Bilinear resampling written as two matrix products per image, ``R_y @ img @
        R_x^T`` (the matrices of :meth:`matrices`), so every step has the same shapes (JAX
        compiles once) and shifts need not be whole pixels.
        """
        centred = ops.transpose(images - 0.5, (0, 3, 1, 2))  # (B, C, h, w)
        out = ops.matmul(ops.matmul(ry[:, None], centred), ops.transpose(rx, (0, 2, 1))[:, None])
        return ops.transpose(out, (0, 2, 3, 1)) + 0.5

    def matrices(self, rngs: list[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
        """One random zoom and shift per image (one generator each), as ``(R_y, R_x)``."""
        ry, rx = [], []
        for rng in rngs:
            s = float(rng.uniform(0.9, 1.1))
            dy, dx = rng.uniform(-self.jitter, self.jitter, 2)
            ry.append(resample(self.h, s, float(dy)))
            rx.append(resample(self.w, s, float(dx)))
        return np.stack(ry), np.stack(rx)


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
