"""Draw → repaint: from releasing the pen on the input image to the grid repainted with the
maps of the drawn input, for notebook 3's digits CNN (24x24x1, random weights: the timing
does not depend on training), in the real bundle in headless Chromium, the kernel being
the real widget's own handler in this process (``tests/browser/helpers.KernelResponder``).

Side by side, in the same process: the model's bare forward pass on one input
(``model(x)``) and ``w.set_input(x)`` in Python (the kernel's share of the path), as
ratios. Times are taken in the page: ``performance.mark("fmw:draw-up")`` on pointer-up,
then the end of the first ``fmw:repaint`` measure after it. Usage:
``python benchmarks/draw_bench.py [--strokes N]`` (also part of browser_bench.py).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from fmwidget import FeatureMapWidget  # noqa: E402
from tests.browser.helpers import Harness, new_context  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from models import digits_cnn  # noqa: E402

SIZE = 24

#: From the mark on pointer-up to the end of the first grid repaint after it (ms), or null.
DRAW_TO_REPAINT = """() => {
    const up = performance.getEntriesByName('fmw:draw-up').at(-1);
    if (!up) return null;
    const r = performance.getEntriesByName('fmw:repaint').find((m) => m.startTime > up.startTime);
    return r ? r.startTime + r.duration - up.startTime : null;
}"""


def median_ms(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def draw_repaint(browser: Any, strokes: int = 15) -> dict[str, Any]:
    """Median draw → repaint (ms) over ``strokes`` pen strokes, with its baselines."""
    keras.utils.set_random_seed(0)
    model = digits_cnn(keras)
    x = np.zeros((SIZE, SIZE, 1), np.float32)
    x[0, 0] = 1.0
    widget = FeatureMapWidget(model, x, layer="conv1", view="grid")
    ctx = new_context(browser, viewport={"width": 1400, "height": 1000})
    h = Harness(ctx.new_page())
    h.mount_widget(widget)
    h.ready(timeout=120_000)
    h.page.wait_for_function("() => document.querySelector('.fmw-stack')?.dataset.pen")
    box = h.page.locator("canvas.fmw-input").bounding_box()
    cell = box["width"] / SIZE
    times = []
    for k in range(strokes + 1):  # the first stroke warms up
        version = widget.data_version
        row = 3.5 + (k * 5) % 18
        h.page.mouse.move(box["x"] + 3 * cell, box["y"] + row * cell)
        h.page.mouse.down()
        h.page.mouse.move(box["x"] + 20 * cell, box["y"] + (row + 2) * cell, steps=4)
        h.page.mouse.up()
        h.page.wait_for_function(
            "(v) => window.__fmwModel.get('data_version') > v", arg=version, timeout=30_000
        )
        h.page.wait_for_function(f"() => ({DRAW_TO_REPAINT})() !== null", timeout=30_000)
        ms = h.page.evaluate(DRAW_TO_REPAINT)
        if k:
            times.append(ms)
    drawn = widget.input_array[None]
    forward = median_ms(lambda: keras.ops.convert_to_numpy(model(drawn, training=False)), 21)
    set_input = median_ms(lambda: widget.set_input(drawn), 11)
    out = {
        "model": f"{model.name} ({SIZE}x{SIZE}x1)",
        "strokes": len(times),
        "draw_to_repaint_ms": statistics.median(times),
        "draw_to_repaint_ms_max": max(times),
        "forward_ms": forward,
        "set_input_ms": set_input,
        "ratio_to_forward": statistics.median(times) / forward,
        "ratio_to_set_input": statistics.median(times) / set_input,
        "page_errors": h.page_errors,
    }
    ctx.close()
    return out


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strokes", type=int, default=15)
    args = parser.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        print(json.dumps(draw_repaint(browser, args.strokes)))
        browser.close()


if __name__ == "__main__":
    main()
