"""Run every fmwidget benchmark side by side and report ratios (table + PNG plot).

Each backend runs benchmarks/python_bench.py, examples_bench.py and gradients_bench.py in
its own interpreter (one Keras backend per process); the browser numbers come from
benchmarks/browser_bench.py; keract, where a legacy-Keras venv is given, from
benchmarks/keract_bench.py. Ratios compare numbers taken in the same process. Nothing here
asserts a time: it reports.

Usage:
    python benchmarks/run.py                 # backends with a .venv-<name>, VGG16 + small
    python benchmarks/run.py --smoke         # tiny model, one repeat, no JupyterLab (CI)
    python benchmarks/run.py --keract-python /path/to/legacy-venv/bin/python
    python benchmarks/run.py --no-featurevis # skip the minutes-long feature visualisation
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def run_json(python: str, script: str, *args: str, backend: str | None = None) -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("KERAS_HOME", str(OUT / "keras"))
    if backend:
        env["KERAS_BACKEND"] = backend
    proc = subprocess.run(
        [python, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed on {backend or python}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}"


def rows_for(backend: str, res: dict[str, Any]) -> list[tuple[str, str, str, float, float]]:
    """(backend, model, metric, value, target) rows from one python_bench result."""
    rows = []
    for m in res["models"]:
        fwd = m["forward_s"]
        name = m["model"]
        rows.append((backend, name, "extract / forward", m["extract_s"] / fwd, 1.10))
        if "submodels_s" in m:
            rows.append((backend, name, "sub-model per layer / forward", m["submodels_s"] / fwd, 0))
        rows.append((backend, name, "encode / forward", m["encode_s"] / fwd, 0.25))
        rows.append((backend, name, "  before: one-part float16", m["encode_one_part_s"] / fwd, 0))
        rows.append((backend, name, "JSON encode / forward", m["json_s"] / fwd, 0))
        pack = m["pack_numpy_s"]
        rows.append(
            (backend, name, "nonzero packing: keras.ops / numpy", m["pack_backend_s"] / pack, 0)
        )
        rows.append(
            (backend, name, "  numpy boolean index / numpy compress", m["pack_boolean_s"] / pack, 0)
        )
        layer_bytes = 2 * m["first_layer_values"]
        first = m["bytes_before_first_paint"] / layer_bytes
        rows.append((backend, name, "first paint bytes / first layer at 2 B/value", first, 1.10))
        first = m["one_part_bytes_before_first_paint"] / layer_bytes
        rows.append((backend, name, "  before: one-part float16", first, 0))
        rows.append(
            (backend, name, "binary / JSON bytes", m["encode_bytes"] / m["json_bytes"], 0.10)
        )
        ratio = m["encode_one_part_bytes"] / m["json_bytes"]
        rows.append((backend, name, "  before: one-part float16", ratio, 0))
        rows.append(
            (
                backend,
                name,
                "peak memory / float32 maps",
                m["peak_rss_growth_bytes"] / m["maps_float32_bytes"],
                2.5,
            )
        )
    for b in res.get("builds", []):
        ratio = b["widget_build_s"] / b["forward_s"]
        rows.append((backend, b["model"], "widget build / forward", ratio, 1.5))
    builds = {b["model"]: b for b in res.get("builds", [])}
    if {"densenet121", "densenet201"} <= builds.keys():
        small, big = builds["densenet121"], builds["densenet201"]
        growth = (big["widget_build_s"] / small["widget_build_s"]) / (
            big["entries"] / small["entries"]
        )
        rows.append((backend, "densenet", "build growth 121->201 / entry growth", growth, 1.1))
    return rows


def example_rows(backend: str, res: dict[str, Any]) -> list[tuple[str, str, str, float, float]]:
    """Rows from one examples_bench result (time ratios: lower is better)."""
    rows = []
    for m in res["throughput"]:
        ratio = 1 / m["throughput_ratio"]  # <= 1.11 means throughput >= 0.9
        rows.append((backend, m["model"], "top_examples / predict, same N and batch", ratio, 1.11))
    sizes = sorted(res["memory"], key=int)
    small, big = res["memory"][sizes[0]], res["memory"][sizes[-1]]
    label = f"top_examples peak mem N={sizes[-1]} / N={sizes[0]}"
    rows.append((backend, "digits", label, big / max(small, 1), 1.10))
    if res.get("ray"):
        r = res["ray"]
        ratio = r["ray_s"] / r["local_s"]
        rows.append((backend, "digits", "ray 2 local workers / local", ratio, 0))
    return rows


def gradient_rows(backend: str, res: dict[str, Any]) -> list[tuple[str, str, str, float, float]]:
    """Rows from one gradients_bench result: ratios to one forward + backward pass."""
    g = res["gradients"]
    fb = g["forward_backward_s"]
    rows = [
        (backend, g["model"], "Grad-CAM / forward+backward", g["grad_cam_s"] / fb, 1.2),
        (backend, g["model"], "saliency / forward+backward", g["saliency_s"] / fb, 0),
        (backend, g["model"], "forward+backward / forward", fb / g["forward_s"], 0),
    ]
    if "featurevis" in res:
        f = res["featurevis"]
        label = f"feature vis, {f['filters']} filters: 1 step / forward"
        rows.append((backend, f["model"][:6], label, f["step_in_forward_passes"], 0))
        label = f"feature vis, {f['filters']} filters x 256 steps (s)"
        rows.append((backend, f["model"][:6], label, f["full_run_s"], 0))
    return rows


def plot(rows: list[tuple[str, str, str, float, float]], path: pathlib.Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install '.[bench]')")
        return False
    ratio_rows = [r for r in rows if "ms" not in r[2] and "(s)" not in r[2]]
    labels = [f"{b} {m}\n{k}" for b, m, k, _, _ in ratio_rows]
    values = [v for *_, v, _ in ratio_rows]
    targets = [t for *_, t in ratio_rows]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(labels) + 1.2))
    ypos = range(len(labels))
    colors = [
        "#2a9d8f" if (t == 0 or v <= t) else "#e76f51"
        for v, t in zip(values, targets, strict=False)
    ]
    ax.barh(list(ypos), values, color=colors)
    for y, t in zip(ypos, targets, strict=False):
        if t:
            ax.plot([t, t], [y - 0.4, y + 0.4], color="black", lw=1.5)
    ax.set_yticks(list(ypos), labels, fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("ratio (log scale); black tick = target, red = misses it")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def print_table(rows: list[tuple[str, str, str, float, float]], judged: bool) -> None:
    """The rows with their targets; ``judged`` adds the ok column (the full run only)."""
    if not judged:
        print(
            "smoke run (tiny model, one repeat): measurements only. The targets belong to the\n"
            "full run's models and are judged there: python benchmarks/run.py"
        )
    head = f"{'backend':<11} {'model':<11} {'metric':<48} {'value':>9} {'target':>8}"
    print(head + ("  ok" if judged else ""))
    for b, m, k, v, t in rows:
        target = f"<= {t:g}" if t else ""
        ok = ("  yes" if v <= t else "  NO") if judged and t else ""
        print(f"{b:<11} {m:<11} {k:<48} {v:>9.3f} {target:>8}{ok}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--keract-python", default=None)
    parser.add_argument("--no-lab", action="store_true")
    parser.add_argument("--no-featurevis", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    pythons = {}
    for b in args.backends.split(","):
        venv = ROOT / f".venv-{b}" / "bin" / "python"
        pythons[b] = str(venv) if venv.exists() else None
    if not any(pythons.values()):
        pythons = {os.environ.get("KERAS_BACKEND", "tensorflow"): sys.executable}
    flags = ["--smoke"] if args.smoke else []

    rows: list[tuple[str, str, str, float, float]] = []
    raw: dict[str, Any] = {"machine": machine(), "python": {}}
    for backend, python in pythons.items():
        if python is None:
            print(f"(skipping {backend}: no .venv-{backend}; scripts/env.sh {backend} makes it)")
            continue
        res = run_json(python, "python_bench.py", *flags, backend=backend)
        raw["python"][backend] = res
        rows += rows_for(backend, res)
        ex = run_json(python, "examples_bench.py", *flags, backend=backend)
        raw.setdefault("examples", {})[backend] = ex
        rows += example_rows(backend, ex)
        grad_flags = flags + (["--no-featurevis"] if args.no_featurevis else [])
        res = run_json(python, "gradients_bench.py", *grad_flags, backend=backend)
        raw.setdefault("gradients", {})[backend] = res
        rows += gradient_rows(backend, res)

    browser_python = next(p for p in pythons.values() if p)
    backend0 = next(b for b, p in pythons.items() if p)
    lab_flags = flags + (["--no-lab"] if args.no_lab else [])
    br = run_json(browser_python, "browser_bench.py", *lab_flags, backend=backend0)
    raw["browser"] = br
    for label, ms in br["repaint_ms"].items():
        target = 16 if not args.smoke else 0
        rows.append(("chromium", "", f"repaint ms ({label})", ms, target))
    rows.append(("chromium", "", "hover ms p95", br["hover_ms_p95"], 8 if not args.smoke else 0))
    rows.append(
        (
            "chromium",
            br.get("overview_model", ""),
            "overview linked hover ms p95",
            br.get("overview_hover_ms_p95"),
            8 if not args.smoke else 0,
        )
    )
    if "draw" in br:  # pen released -> grid repainted with the drawn input's maps
        dr = br["draw"]
        rows.append(("chromium", "digits_cnn", "draw -> repaint ms", dr["draw_to_repaint_ms"], 150))
        rows.append(("chromium", "digits_cnn", "  / forward pass", dr["ratio_to_forward"], 0))
        rows.append(
            ("chromium", "digits_cnn", "  / set_input in Python", dr["ratio_to_set_input"], 0)
        )
    if "jupyterlab" in br:
        lab = br["jupyterlab"]
        rows.append((backend0, "vgg16", "Lab first paint / forward", lab["parts"]["ratio"], 2))
        rows.append(
            (backend0, "vgg16", "  without the pushed first part", lab["parts_no_push"]["ratio"], 0)
        )
        rows.append((backend0, "vgg16", "  before: one-part float16", lab["one_part"]["ratio"], 0))
        whole = lab["parts"]["whole_ratio"]
        rows.append((backend0, "vgg16", "Lab whole first layer / forward", whole, 0))
        whole = lab["one_part"]["whole_ratio"]
        rows.append((backend0, "vgg16", "  before: one-part float16", whole, 0))

    if args.keract_python:
        kr = run_json(args.keract_python, "keract_bench.py", backend="tensorflow")
        raw["keract"] = kr
        for m in kr["models"]:
            rows.append(
                ("tf-keras", m["model"], "keract / forward", m["keract_s"] / m["forward_s"], 0)
            )

    print(f"\nmachine: {raw['machine']}")
    print_table(rows, judged=not args.smoke)
    (OUT / "results.json").write_text(json.dumps(raw, indent=1))
    if plot(rows, OUT / "benchmark.png"):
        print(f"\nplot: {OUT / 'benchmark.png'}")
    print(f"raw numbers: {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
