"""Python-side timings for one Keras backend, printed as JSON (run by benchmarks/run.py).

Everything is measured in this one process, side by side, as medians over repeats:
the bare forward pass, fmwidget's extract, one sub-model per layer (quiver's way),
encoding every map for the wire (fmwidget's float16 vs JSON of floats), the bytes sent
before the first map can be painted, the peak resident memory of extract + encode, and
(for deep models) building the whole widget, layer list and receptive-field tables
included, against the bare forward pass.

Usage: KERAS_BACKEND=jax python benchmarks/python_bench.py [--smoke] [--models small,vgg16]
       [--build-models densenet121,densenet201]
"""

from __future__ import annotations

import argparse
import gc
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
from fmwidget.encode import encode_map
from fmwidget.introspect import MAP_KINDS
from fmwidget.widget import FeatureMapWidget

sys.path.insert(0, os.path.dirname(__file__))
import models


def build(name: str) -> tuple[keras.Model, np.ndarray]:
    return models.build(keras, name)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (tracing, caches)
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rss_now_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def reset_peak_and_measure(fn) -> int:
    """Peak resident growth (KiB) while ``fn`` runs (Linux: clear_refs resets VmHWM)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = rss_now_kb()
    fn()
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return peak - before


def _t(fm: fmwidget.FeatureMaps, name: str):
    """The first sample's backend tensor when extract kept it (what the widget passes)."""
    t = fm.backend_tensor(name)
    return None if t is None else (lambda: t[0])


def map_layers(fm: fmwidget.FeatureMaps) -> list[fmwidget.LayerInfo]:
    return [i for i in fm.layers[1:] if i.spatial and i.kind in MAP_KINDS]


def bench_model(name: str, repeats: int) -> dict[str, Any]:
    model, x = build(name)

    def forward():
        return keras.ops.convert_to_numpy(model(x, training=False))

    def extract():
        return fmwidget.extract(model, x)

    fm = extract()
    maps = map_layers(fm)
    n_values = sum(fm[i.name][0].size for i in maps)
    out: dict[str, Any] = {"model": name, "map_values": n_values, "maps": len(maps)}
    out["forward_s"] = median_time(forward, repeats)
    out["extract_s"] = median_time(extract, repeats)

    if model.inputs:  # quiver's way: one sub-model per layer, each a forward pass

        def per_layer():
            for info in maps:
                layer = model.get_layer(info.name)
                keras.ops.convert_to_numpy(keras.Model(model.inputs, layer.output)(x))

        out["submodels_s"] = median_time(per_layer, max(1, repeats // 2))

    def encode_all():
        return [encode_map(fm[i.name][0], i.data_format, _t(fm, i.name)) for i in maps]

    def json_all():
        return [json.dumps(fm[i.name][0].tolist()) for i in maps]

    out["encode_s"] = median_time(encode_all, repeats)
    out["encode_bytes"] = sum(len(p) for _, p in encode_all())
    out["json_s"] = median_time(json_all, 1)
    out["json_bytes"] = sum(len(s) for s in json_all())

    # Bytes before the first map is painted: the synced state plus the first shown layer.
    widget = FeatureMapWidget(model, x)
    state = {k: v for k, v in widget.get_state().items() if not k.startswith("_")}
    state_bytes = len(json.dumps(state, default=str))
    header, payload = widget._layer_message(
        {"type": "get_layer", "layer": widget.layer, "request_id": 1}
    )
    first = fm.info(widget.layer)
    first_values = fm[first.name][0].size
    out["first_layer"] = first.name
    out["first_layer_values"] = first_values
    out["bytes_before_first_paint"] = state_bytes + len(json.dumps(header)) + len(payload)
    out["state_bytes"] = state_bytes

    out["maps_float32_bytes"] = sum(fm[i.name].nbytes for i in fm.layers)
    return out


def bench_build(name: str, repeats: int) -> dict[str, Any]:
    """Widget construction (extract, layer list, receptive-field tables) vs the forward pass."""
    model, x = build(name)

    def forward():
        return keras.ops.convert_to_numpy(model(x, training=False))

    def widget():
        w = FeatureMapWidget(model, x)
        w.close()
        return w

    w = widget()
    return {
        "model": name,
        "entries": len(w.fm.layers),
        "forward_s": median_time(forward, repeats),
        "widget_build_s": median_time(widget, repeats),
    }


def peak_memory(name: str) -> int:
    """Peak resident growth (bytes) of extract + encoding every map, in a fresh state."""
    model, x = build(name)
    keras.ops.convert_to_numpy(model(x, training=False))  # build and warm up first

    def run():
        fm = fmwidget.extract(model, x)
        return [encode_map(fm[i.name][0], i.data_format, _t(fm, i.name)) for i in map_layers(fm)]

    return 1024 * reset_peak_and_measure(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="small,vgg16")
    parser.add_argument("--build-models", default="densenet121,densenet201")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny model, one repeat")
    args = parser.parse_args()
    models = ["small"] if args.smoke else [m for m in args.models.split(",") if m]
    repeats = 1 if args.smoke else args.repeats
    results = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "models": [bench_model(m, repeats) for m in models],
        "builds": [
            bench_build(m, repeats)
            for m in (["small"] if args.smoke else [m for m in args.build_models.split(",") if m])
        ],
    }
    for entry in results["models"]:  # after the timings, so their garbage is gone
        entry["peak_rss_growth_bytes"] = peak_memory(entry["model"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
