"""Python-side timings for one Keras backend, printed as JSON (run by benchmarks/run.py).

Everything is measured in this one process, side by side, as medians over repeats:
the bare forward pass, fmwidget's extract, one sub-model per layer (quiver's way),
encoding every map for the wire (the wire format: progressive parts, mostly-zero parts
packed as a nonzero mask + values; its baseline, the one-part float16 format before it;
and JSON of floats), how the nonzero packing's compaction compares when done with
keras.ops on the backend, the bytes sent before the first map can be painted (both
formats), the peak resident memory of extract + encode, and (for deep models) building
the whole widget, layer list and receptive-field tables included, against the bare
forward pass.

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
from fmwidget.encode import WireFormat, encode_map, layer_parts
from fmwidget.kinds import MAP_KINDS
from fmwidget.replies import layer_reply
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


def bench_model(name: str, repeats: int, wire_only: bool = False) -> dict[str, Any]:
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
    out["extract_s"] = median_time(extract, 1 if wire_only else repeats)

    if model.inputs and not wire_only:  # quiver's way: one sub-model per layer, each a forward

        def per_layer():
            for info in maps:
                layer = model.get_layer(info.name)
                keras.ops.convert_to_numpy(keras.Model(model.inputs, layer.output)(x))

        out["submodels_s"] = median_time(per_layer, max(1, repeats // 2))

    def wire_all(wire: WireFormat):
        """Every map as the messages the kernel sends (payload bytes per map)."""
        sizes = []
        for i in maps:
            header, payload = encode_map(fm[i.name][0], i.data_format, _t(fm, i.name))
            sizes.append(sum(p.nbytes for _, p in layer_parts(header, payload, wire=wire)))
        return sizes

    def json_all():
        return [json.dumps(fm[i.name][0].tolist()) for i in maps]

    new, old = WireFormat(), WireFormat(progressive=False, sparse=False)
    out["encode_s"] = median_time(lambda: wire_all(new), repeats)
    out["encode_one_part_s"] = median_time(lambda: wire_all(old), repeats)
    out["encode_bytes"] = sum(wire_all(new))
    out["encode_one_part_bytes"] = sum(wire_all(old))
    out.update(compaction(fm, maps, repeats))
    out["json_s"] = median_time(json_all, 1)
    out["json_bytes"] = sum(len(s) for s in json_all())

    # Bytes before the first map is painted: the synced state plus the first message of the
    # first shown layer (asked with the browser's first screenful of VGG16's block1_conv1 in
    # a pane ~1000 px wide, 4 columns x 3 rows of 224x224 maps: FIRST_CHANNELS; the kernel
    # puts at most FIRST_PART_BYTES of them in the first part).
    widget = FeatureMapWidget(model, x)
    state = {k: v for k, v in widget.get_state().items() if not k.startswith("_")}
    state_bytes = len(json.dumps(state, default=str))
    first = fm.info(widget.layer)
    for key, wire in (
        ("bytes_before_first_paint", new),
        ("one_part_bytes_before_first_paint", old),
    ):
        header, payload = layer_reply(
            widget, {"type": "get_layer", "layer": widget.layer, "request_id": 1}
        )
        part, data = next(layer_parts(header, payload, FIRST_CHANNELS, wire=wire))
        out[key] = state_bytes + len(json.dumps(part)) + data.nbytes
    out["first_layer"] = first.name
    out["first_layer_values"] = fm[first.name][0].size
    out["state_bytes"] = state_bytes

    out["maps_float32_bytes"] = sum(fm[i.name].nbytes for i in fm.layers)
    return out


#: Channels the browser asks for first (see bench_model).
FIRST_CHANNELS = 12


def _pack_backend(tensor: Any) -> tuple[np.ndarray, np.ndarray]:
    """The nonzero mask + nonzero float16 values computed with keras.ops on the backend."""
    ops = keras.ops
    half = ops.cast(ops.reshape(tensor, (-1,)), "float16")
    nonzero = ops.not_equal(ops.view(half, "int16"), 0)  # torch has no uint16 view
    n = int(nonzero.shape[0])
    bits = ops.pad(ops.cast(nonzero, "int32"), [(0, -n % 8)])
    weights = ops.convert_to_tensor(np.array([1, 2, 4, 8, 16, 32, 64, 128], "int32"))
    mask = ops.cast(ops.sum(ops.reshape(bits, (-1, 8)) * weights, axis=1), "uint8")
    values = ops.take(half, ops.where(nonzero)[0])
    return ops.convert_to_numpy(mask), ops.convert_to_numpy(values)


def _pack_numpy(half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same with numpy: vectorised mask, compaction by ``np.compress`` (as the encoder)."""
    bits = half.reshape(-1).view("<u2")
    nonzero = bits != 0
    return np.packbits(nonzero, bitorder="little"), np.compress(nonzero, bits)


def _pack_boolean(half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same with numpy boolean indexing (the compaction measured too slow before)."""
    bits = half.reshape(-1).view("<u2")
    nonzero = bits != 0
    return np.packbits(nonzero, bitorder="little"), bits[nonzero]


def compaction(fm: fmwidget.FeatureMaps, maps: list, repeats: int) -> dict[str, float]:
    """Seconds to pack every map's nonzero values, three ways, from the same float16 maps.

    Each starts from the map already cast to float16 (numpy) or the float32 tensor (the
    backend casts it itself, so its time includes one cast the others do not pay).
    """
    tensors = [keras.ops.convert_to_tensor(fm[i.name][0]) for i in maps]
    halves = [fm[i.name][0].astype("<f2") for i in maps]
    check = [_pack_numpy(h) for h in halves]
    for (m1, v1), (m2, v2) in zip(check, (_pack_backend(t) for t in tensors), strict=True):
        assert np.array_equal(m1, m2) and np.array_equal(v1, v2.view("<u2")), "backend differs"
    return {
        "pack_numpy_s": median_time(lambda: [_pack_numpy(h) for h in halves], repeats),
        "pack_boolean_s": median_time(lambda: [_pack_boolean(h) for h in halves], repeats),
        "pack_backend_s": median_time(lambda: [_pack_backend(t) for t in tensors], repeats),
    }


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
        sizes = []
        for i in map_layers(fm):
            header, payload = encode_map(fm[i.name][0], i.data_format, _t(fm, i.name))
            sizes.append(sum(p.nbytes for _, p in layer_parts(header, payload)))
        return sizes

    return 1024 * reset_peak_and_measure(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="small,vgg16")
    parser.add_argument("--build-models", default="densenet121,densenet201")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny model, one repeat")
    parser.add_argument(
        "--wire-only",
        action="store_true",
        help="only the wire rows (encode, bytes, packing); no sub-models, builds or memory",
    )
    args = parser.parse_args()
    models = ["small"] if args.smoke else [m for m in args.models.split(",") if m]
    repeats = 1 if args.smoke else args.repeats
    results = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "models": [bench_model(m, repeats, args.wire_only) for m in models],
        "builds": [
            bench_build(m, repeats)
            for m in (
                []
                if args.wire_only
                else ["small"]
                if args.smoke
                else [m for m in args.build_models.split(",") if m]
            )
        ],
    }
    for entry in [] if args.wire_only else results["models"]:  # after the timings (garbage)
        entry["peak_rss_growth_bytes"] = peak_memory(entry["model"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
