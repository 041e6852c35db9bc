"""Gradient-lens timings for one Keras backend, printed as JSON (run by benchmarks/run.py).

Measured side by side in this one process, as medians after a warm-up call:

* the baseline: one forward + backward pass, the gradient of the top class score with
  respect to the input, written directly with the backend's own API (``jax.value_and_grad``,
  ``tf.GradientTape``, ``torch.autograd.grad``; eager, as a user would write it);
* ``fmwidget.grad_cam(model, x)`` (default layer, top class) and ``fmwidget.saliency``;
* ``fmwidget.visualize_filter`` of 16 filters of one block-3 convolution: VGG16's
  convolutional base (``include_top=False``, free input size) at 128 x 128, the 16 images
  optimised as one batch; seconds per step timed over ``--featurevis-steps`` steps (8) after
  one cold step (which learns the layer calls and, on JAX, compiles the step; reported
  apart), and the full 256-step run that implies.

Usage: KERAS_BACKEND=jax python benchmarks/gradients_bench.py [--smoke] [--no-featurevis]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("KERAS_HOME", os.path.join(os.path.dirname(__file__), "out", "keras"))

import keras
import numpy as np

import fmwidget

sys.path.insert(0, os.path.dirname(__file__))
import models
from python_bench import median_time

#: Steps of a full feature visualisation (``visualize_filter``'s default).
FULL_STEPS = 256


def forward_backward(model: Any, x: np.ndarray) -> Any:
    """``f()`` -> the input gradient of the top class score, with the backend's own API."""
    backend = keras.backend.backend()
    cls = int(np.argmax(keras.ops.convert_to_numpy(model(x, training=False))[0]))
    if backend == "jax":
        import jax

        grad = jax.grad(lambda v: model(v, training=False)[0, cls])
        return lambda: np.asarray(grad(x))
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)

        def tf_step() -> np.ndarray:
            with tf.GradientTape() as tape:
                tape.watch(xt)
                score = model(xt, training=False)[0, cls]
            return tape.gradient(score, xt).numpy()

        return tf_step
    import torch

    def torch_step() -> np.ndarray:
        xt = torch.tensor(x, requires_grad=True)
        score = model(xt, training=False)[0, cls]
        return torch.autograd.grad(score, xt)[0].numpy()

    return torch_step


def bench_gradients(name: str, repeats: int) -> dict[str, Any]:
    model, x = models.build(keras, name)
    out: dict[str, Any] = {"model": name}
    start = time.perf_counter()
    fmwidget.grad_cam(model, x[0])  # learns the layer calls once per model and input shape
    out["grad_cam_first_s"] = time.perf_counter() - start
    out["forward_s"] = median_time(lambda: keras.ops.convert_to_numpy(model(x)), repeats)
    out["forward_backward_s"] = median_time(forward_backward(model, x), repeats)
    out["grad_cam_s"] = median_time(lambda: fmwidget.grad_cam(model, x[0]), repeats)
    out["saliency_s"] = median_time(lambda: fmwidget.saliency(model, x[0]), repeats)
    return out


def bench_featurevis(smoke: bool, steps: int) -> dict[str, Any]:
    """Seconds per optimisation step, timed over ``steps`` steps after one cold step.

    Every step runs the same computation (same shapes; compiled once on JAX), so a full run
    costs ``FULL_STEPS`` times a step. The step is also given in VGG16 forward passes (224 x
    224, batch 1) timed in this process, a unit that survives a busy machine.
    """
    if smoke:
        model, _ = models.build(keras, "small")
        layer, filters, size = "conv2", 2, None
    else:
        model = keras.applications.VGG16(weights=None, include_top=False)
        layer, filters, size = "block3_conv3", 16, 128
    channels = list(range(filters))
    start = time.perf_counter()  # one step cold: layer calls learned, JAX compiles the step
    fmwidget.visualize_filter(model, layer, channels, steps=1, size=size, progress=False)
    first = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    results = fmwidget.visualize_filter(
        model, layer, channels, steps=steps, size=size, progress=False, cache=False
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    unit, x = models.build(keras, "small" if smoke else "vgg16")
    forward = median_time(lambda: keras.ops.convert_to_numpy(unit(x)), 3)
    return {
        "model": model.name,
        "layer": layer,
        "filters": filters,
        "size": list(results[0].image.shape[:2]),
        "steps_timed": steps,
        "step_s": seconds / steps,
        "step_cpu_s": cpu / steps,  # all threads
        "step_in_forward_passes": seconds / steps / forward,
        "full_run_s": seconds / steps * FULL_STEPS,
        "unit_forward_s": forward,
        "first_step_cold_s": first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny model, few steps")
    parser.add_argument("--no-featurevis", action="store_true")
    parser.add_argument("--featurevis-steps", type=int, default=8, help="steps timed")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    name = "small" if args.smoke else "vgg16"
    results: dict[str, Any] = {
        "backend": keras.backend.backend(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "gradients": bench_gradients(name, 1 if args.smoke else args.repeats),
    }
    if not args.no_featurevis:
        steps = 2 if args.smoke else args.featurevis_steps
        results["featurevis"] = bench_featurevis(args.smoke, steps)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
