"""keract's get_activations under legacy Keras 2 (tf-keras), printed as JSON.

keract fails on Keras 3 ('Functional' object has no attribute '_is_compiled'), so it is
measured where it still runs: TF_USE_LEGACY_KERAS=1 with tf-keras, in its own venv
(``pip install tensorflow-cpu tf-keras keract``). The same models and inputs as
python_bench.py; the bare forward pass is timed in this process too, so the ratio is fair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import keract
import tf_keras as keras

sys.path.insert(0, os.path.dirname(__file__))
import models  # benchmarks/models.py, shared with python_bench.py


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="small,vgg16")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    out = []
    for name in args.models.split(","):
        model, x = models.build(keras, name)
        forward = median_time(lambda m=model, x=x: m(x, training=False).numpy(), args.repeats)
        acts = median_time(lambda m=model, x=x: keract.get_activations(m, x), args.repeats)
        out.append({"model": name, "forward_s": forward, "keract_s": acts})
    print(
        json.dumps(
            {"keract": keract.__version__ if hasattr(keract, "__version__") else "?", "models": out}
        )
    )


if __name__ == "__main__":
    main()
