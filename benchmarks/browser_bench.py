"""Browser-side timings in headless Chromium, printed as JSON (run by benchmarks/run.py).

* grid repaint (``performance.measure("fmw:repaint")`` in the real bundle) for 512 maps of
  14x14 and 64 maps of 224x224 (VGG16's block4_pool and block1_conv1);
* hover handling (``fmw:hover``: readout, overlay, receptive-field outline), 95th percentile;
* in a real JupyterLab: from running ``FeatureMapWidget(model, x)`` to the first map painted
  and to the whole first layer painted, against the bare forward pass measured in the same
  kernel just before, for the wire format, the same without pushing the first part, and the
  baseline (the one-part float16 format before progressive parts), in rotating order so all
  see the same load. Times are taken in the
  page (``performance.now()`` when the run command is issued, a MutationObserver for the
  paint).
* linked hover in the network overview (``fmw:overview-hover``: the cell's receptive and
  projective fields in every layer, the marks and connections in view, the read-out) on
  DenseNet121 (429 entries), 95th percentile;
* draw → repaint (``benchmarks/draw_bench.py``): pen released on the input to the grid
  repainted with the drawn input's maps, notebook 3's digits CNN, beside its forward pass
  and ``set_input`` in Python;

Reuses the harness and JupyterLab helpers of tests/browser. Usage (a venv with playwright
and jupyterlab): python benchmarks/browser_bench.py [--smoke] [--no-lab]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from benchmarks.draw_bench import draw_repaint  # noqa: E402
from fmwidget import FeatureMapWidget  # noqa: E402
from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, Harness, new_context  # noqa: E402
from tests.browser.lab import LabNotebook, start_lab, write_notebook  # noqa: E402

X = "\u00d7"  # the multiplication sign the widget's info line uses
#: The model of the overview's linked-hover timing (keras.applications, random weights).
OVERVIEW_MODEL = "DenseNet121"


def measures(page: Any, name: str) -> list[float]:
    return page.evaluate("(n) => performance.getEntriesByName(n).map((e) => e.duration)", name)


def clear(page: Any) -> None:
    page.evaluate("() => performance.clearMeasures()")


def repaint_times(h: Harness, layer: str, label: str, repeats: int) -> list[float]:
    h.kernel_set("layer", layer)
    h.page.wait_for_function(  # the info line reads e.g. "512 maps of 14\u00d714 ..."
        "(t) => (document.querySelector('.fmw-info')?.textContent ?? '').startsWith(t)",
        arg=label,
        timeout=120_000,
    )
    h.page.wait_for_timeout(500)
    clear(h.page)
    modes = ["map", "layer"]
    for k in range(repeats):  # each colour-range change repaints the whole grid
        h.kernel_set("colormap_range", modes[k % 2])
        h.page.wait_for_timeout(30)
    h.page.wait_for_timeout(300)
    return measures(h.page, "fmw:repaint")


def hover_times(h: Harness, moves: int) -> list[float]:
    clear(h.page)
    box = h.page.locator(".fmw-grid").bounding_box()
    for k in range(moves):
        x = box["x"] + 2 + (k * 7) % max(3, int(box["width"]) - 4)
        y = box["y"] + 2 + (k * 5) % max(3, int(min(box["height"], 400)) - 4)
        h.page.mouse.move(x, y)
    h.page.wait_for_timeout(200)
    return measures(h.page, "fmw:hover")


def harness_timings(browser: Any, widget: Any, cases: list, repeats: int, moves: int) -> dict:
    """Repaint and hover times of the real bundle in the plain harness page."""
    out: dict[str, Any] = {}
    ctx = new_context(browser, viewport={"width": 1400, "height": 1000})
    h = Harness(ctx.new_page())
    h.mount_widget(widget)
    h.ready(timeout=120_000)
    out["repaint_ms"] = {}
    for layer, label in cases:
        times = repaint_times(h, layer, label, repeats)
        out["repaint_ms"][label] = statistics.median(times) if times else None
    hovers = hover_times(h, moves)
    out["hover_ms_p95"] = p95(hovers) if hovers else None
    out["hover_events"] = len(hovers)
    out["page_errors"] = h.page_errors
    ctx.close()
    return out


def overview_hover(browser: Any, smoke: bool, moves: int) -> dict[str, Any]:
    """Real mouse moves over the thumbnails in view of the overview; ``fmw:overview-hover``."""
    if smoke:
        model = keras.Sequential(
            [keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3), keras.layers.MaxPooling2D()],
            name="smoke",
        )
    else:
        model = getattr(keras.applications, OVERVIEW_MODEL)(weights=None)
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    widget = FeatureMapWidget(model, x, view="overview")
    ctx = new_context(browser, viewport={"width": 1400, "height": 1000})
    h = Harness(ctx.new_page())
    h.mount_widget(widget)
    h.ready(timeout=300_000)
    h.page.wait_for_selector('.fmw-overview[data-pending="0"]', timeout=300_000)
    rects = h.page.evaluate(
        """() => {
            const v = document.querySelector('.fmw-overview').fmwOverview;
            return [...document.querySelectorAll('.fmw-ov-col[data-kind="map"]')]
                .flatMap((b) => [0, 1, 2].map((s) => v.clientRect(b.dataset.layer, s)));
        }"""
    )
    rects = [r for r in rects if r and r["x"] > 0 and r["x"] + r["w"] < 1400]
    clear(h.page)
    for k in range(moves):
        r = rects[k % len(rects)]
        fx, fy = ((k * 0.618) % 1), ((k * 0.382 + 0.1) % 1)
        h.page.mouse.move(r["x"] + fx * r["w"], r["y"] + fy * r["h"])
    h.page.wait_for_timeout(200)
    times = measures(h.page, "fmw:overview-hover")
    out = {"times": times, "model": f"{model.name} ({len(widget.fm.layers)} entries)"}
    out["page_errors"] = h.page_errors
    ctx.close()
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


LAB_CELLS = [
    """import time, numpy as np, keras, fmwidget
from fmwidget import encode
model = keras.applications.VGG16(weights=None)
x = np.random.default_rng(0).random((224, 224, 3), dtype=np.float32)
keras.ops.convert_to_numpy(model(x[None], training=False))  # warm-up
def forward_s(n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        keras.ops.convert_to_numpy(model(x[None], training=False))
        times.append(time.perf_counter() - t)
    return sorted(times)[n // 2]""",
    "print(forward_s())",
    "encode.WIRE = encode.WireFormat()",
    "encode.WIRE = encode.WireFormat(push_first=False)",
    "encode.WIRE = encode.WireFormat(progressive=False, sparse=False, push_first=False)",
    'w = fmwidget.FeatureMapWidget(model, x, view="grid")\nw',
]
WIRES = {"parts": 2, "parts_no_push": 3, "one_part": 4}  # the cell selecting each format
WIDGET_CELL = 5

# Runs cell i through Lab's command registry and resolves with the milliseconds from the
# command to the widget's view on the page (its state arrived), to the first map painted
# (data-ready) and to the whole layer painted (the info line without "loading"). The
# cell's old output is cleared first.
TIME_WIDGET_CELL = """([i, label]) => new Promise((resolve, reject) => {
    const app = window.jupyterapp;
    const nb = app.shell.currentWidget.content;
    const cell = nb.widgets[i];
    cell.model.outputs.clear();
    if (cell.node.querySelector(".fmw-root")) reject(new Error("old output still shown"));
    let first = null;
    let shown = null;
    const t0 = performance.now();
    const check = () => {
        const now = performance.now() - t0;
        if (shown === null && cell.node.querySelector(".fmw-root")) shown = now;
        if (first === null && cell.node.querySelector('.fmw-root[data-ready="1"]')) first = now;
        const info = cell.node.querySelector(".fmw-info")?.textContent ?? "";
        if (first !== null && info.startsWith(label) && !info.includes("loading")) {
            obs.disconnect();
            resolve({shown, first, whole: now});
        }
    };
    const obs = new MutationObserver(check);
    obs.observe(cell.node, {subtree: true, childList: true, attributes: true,
                            characterData: true});
    setTimeout(() => reject(new Error("no paint within 300 s")), 300000);
    nb.activeCellIndex = i;
    void app.commands.execute("notebook:run-cell");
})"""


def lab_first_paint(browser: Any, runs: int) -> dict[str, Any]:
    base = pathlib.Path(tempfile.mkdtemp(prefix="fmw-bench-lab-"))
    (base / "keras").mkdir()
    server = start_lab(base, base / "keras")
    try:
        write_notebook(server.root_dir / "bench.ipynb", LAB_CELLS)
        ctx = new_context(browser, viewport={"width": 1400, "height": 1000})
        ctx.set_default_timeout(300_000)
        nb = LabNotebook(ctx.new_page(), server, "bench.ipynb", timeout=300_000)
        nb.run_cell(0)
        label = f"64 maps of 224{X}224"

        def timed() -> dict[str, float]:
            nb.wait_idle()
            got = nb.page.evaluate(TIME_WIDGET_CELL, [WIDGET_CELL, label])
            nb.wait_idle()
            return got

        timed()  # warm-up: the first widget in the kernel pays one-time costs
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in WIRES}
        for k in range(runs):
            names = list(WIRES)
            order = names[k % len(names) :] + names[: k % len(names)]
            for name in order:
                forward = float(nb.run_cell(1, mouse=False).strip().splitlines()[-1])
                nb.run_cell(WIRES[name], mouse=False)
                t = timed()
                samples[name].append(
                    {
                        "forward_s": forward,
                        "shown_s": t["shown"] / 1e3,
                        "first_s": t["first"] / 1e3,
                        "whole_s": t["whole"] / 1e3,
                    }
                )
        nb.run_cell(WIRES["parts"], mouse=False)
        nb.close()
        ctx.close()
        out: dict[str, Any] = {"runs": runs}
        for name, rows in samples.items():
            med = statistics.median
            out[name] = {
                "forward_s": med(r["forward_s"] for r in rows),
                "widget_shown_s": med(r["shown_s"] for r in rows),
                "first_paint_s": med(r["first_s"] for r in rows),
                "whole_layer_s": med(r["whole_s"] for r in rows),
                "ratio": med(r["first_s"] / r["forward_s"] for r in rows),
                "whole_ratio": med(r["whole_s"] / r["forward_s"] for r in rows),
                # after the widget shows (its state arrived): the request and the data
                "shown_to_first_s": med(r["first_s"] - r["shown_s"] for r in rows),
                "shown_to_whole_s": med(r["whole_s"] - r["shown_s"] for r in rows),
                "samples": rows,
            }
        return out
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny model, few repeats, no Lab")
    parser.add_argument("--no-lab", action="store_true", help="skip the JupyterLab timing")
    parser.add_argument("--lab-runs", type=int, default=5, help="Lab runs per wire format")
    parser.add_argument("--lab-only", action="store_true", help="only the JupyterLab timing")
    args = parser.parse_args()
    out: dict[str, Any] = {"chromium": CHROMIUM}
    if args.smoke:
        model = keras.Sequential(
            [keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3), keras.layers.MaxPooling2D()]
        )
        x = np.random.default_rng(0).random((28, 28, 1), dtype=np.float32)
        cases = [
            (model.layers[0].name, f"8 maps of 26{X}26"),
            (model.layers[1].name, f"8 maps of 13{X}13"),
        ]
        repeats, moves = 3, 10
    else:
        model = keras.applications.VGG16(weights=None)
        x = np.random.default_rng(0).random((224, 224, 3), dtype=np.float32)
        cases = [("block4_pool", f"512 maps of 14{X}14"), ("block1_conv1", f"64 maps of 224{X}224")]
        repeats, moves = 21, 200
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        if not args.lab_only:
            widget = FeatureMapWidget(model, x, view="grid")
            out.update(harness_timings(browser, widget, cases, repeats, moves))
            ov = overview_hover(browser, args.smoke, moves)
            out["overview_hover_ms_p95"] = p95(ov["times"]) if ov["times"] else None
            out["overview_hover_events"] = len(ov["times"])
            out["overview_model"] = ov["model"]
            out["page_errors"] += ov["page_errors"]
            out["draw"] = draw_repaint(browser, strokes=3 if args.smoke else 15)
            out["page_errors"] += out["draw"].pop("page_errors")
        if not (args.smoke or args.no_lab):
            out["jupyterlab"] = lab_first_paint(browser, runs=args.lab_runs)
        browser.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
