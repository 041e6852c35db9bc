"""``top_examples`` timings for one Keras backend, printed as JSON (run by benchmarks/run.py).

Side by side in one process:
- throughput: ``top_examples`` over N samples against ``model.predict`` over the same N at
  the same batch size (the digits CNN of notebook 3 at 24x24, VGG16 at 128x128 with random
  weights), both warmed up first (compiled), run in pairs back to back: the ratio is the
  median over pairs (with its range), so a load change hits both sides of a pair alike;
- peak resident memory growth of ``top_examples`` over N = 1 000 and N = 10 000 samples
  streamed from a generator (so the dataset itself is never in memory);
- where Ray is installed: ``engine="ray"`` with 2 local workers against ``engine="local"``.

Usage: KERAS_BACKEND=jax python benchmarks/examples_bench.py [--smoke] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("KERAS_HOME", os.path.join(os.path.dirname(__file__), "out", "keras"))

import keras
import numpy as np

import fmwidget

sys.path.insert(0, os.path.dirname(__file__))
from models import digits_cnn
from python_bench import reset_peak_and_measure


def build(name: str) -> tuple[keras.Model, tuple[int, ...]]:
    if name == "digits":
        return digits_cnn(keras), (24, 24, 1)
    if name == "vgg16":
        return keras.applications.VGG16(weights=None, input_shape=(128, 128, 3)), (128, 128, 3)
    raise SystemExit(f"unknown model {name!r}")


def timed(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(name: str, n: int, batch: int, repeats: int) -> dict[str, Any]:
    model, shape = build(name)
    x = np.random.default_rng(0).random((n, *shape), dtype=np.float32)

    def predict():
        model.predict(x, batch_size=batch, verbose=0)

    def examples():
        fmwidget.top_examples(model, x, batch_size=batch, progress=False)

    predict()  # compile both first: the ratio compares steady state
    examples()
    t_pred, t_ex = [], []
    for _ in range(repeats):  # interleaved, so load changes hit both alike
        t_pred.append(timed(predict, 1))
        t_ex.append(timed(examples, 1))
    ex = fmwidget.top_examples(model, x[: batch * 2], batch_size=batch, progress=False)
    pairs = [p / e for p, e in zip(t_pred, t_ex, strict=True)]  # each pair ran back to back
    return {
        "model": name,
        "n": n,
        "batch_size": batch,
        "layers": len(ex.layers),
        "channels": sum(ex.channels(layer) for layer in ex.layers),
        "predict_s": statistics.median(t_pred),
        "top_examples_s": statistics.median(t_ex),
        "throughput_ratio": statistics.median(pairs),
        "throughput_ratio_range": [min(pairs), max(pairs)],
    }


def stream(n: int, batch: int, shape: tuple[int, ...]) -> Any:
    rng = np.random.default_rng(1)
    for start in range(0, n, batch):
        yield rng.random((min(batch, n - start), *shape), dtype=np.float32)


def memory(sizes: list[int], batch: int) -> dict[str, int]:
    model, shape = build("digits")
    fmwidget.top_examples(model, stream(batch * 2, batch, shape), batch_size=batch, progress=False)
    out = {}
    for n in sizes:

        def run(n: int = n) -> None:
            fmwidget.top_examples(model, stream(n, batch, shape), batch_size=batch, progress=False)

        out[str(n)] = 1024 * reset_peak_and_measure(run)
    return out


def ray_vs_local(n: int, batch: int) -> dict[str, Any] | None:
    try:
        import ray
    except ImportError:
        return None
    model, shape = build("digits")
    x = np.random.default_rng(2).random((n, *shape), dtype=np.float32)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - start
    try:
        opts = {"concurrency": 2}

        def local():
            fmwidget.top_examples(model, x, batch_size=batch, progress=False)

        def remote():
            fmwidget.top_examples(
                model, x, batch_size=batch, progress=False, engine="ray", ray_options=opts
            )

        local_s = timed(local, 2)

        first_s = timed(remote, 1)
        ray_s = timed(remote, 2)
    finally:
        ray.shutdown()
    return {"n": n, "init_s": init_s, "local_s": local_s, "ray_first_s": first_s, "ray_s": ray_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat, no Ray")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.smoke:
        runs = [throughput("digits", 256, 64, 1)]
        mem = memory([256, 1024], 64)
    else:
        runs = [
            # ~0.3 s a run, and noisy on a shared 2-core machine: more pairs.
            throughput("digits", 4096, 64, 3 * args.repeats),
            throughput("vgg16", 128, 32, args.repeats),
        ]
        mem = memory([1000, 10000], 64)
    res: dict[str, Any] = {"backend": keras.backend.backend(), "throughput": runs, "memory": mem}
    if not (args.smoke or args.no_ray):
        res["ray"] = ray_vs_local(4096, 64)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
