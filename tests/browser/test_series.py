"""Time series (Conv1D): the input drawn as a line plot, each map as a strip on the input's time
axis, hover → the exact receptive field shaded on the input. Real Keras model, real bundle,
headless Chromium; pixels read back with getImageData."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fmwidget.render import colorize

from .helpers import Harness

pytestmark = pytest.mark.browser

STEPS, CHANNELS = 40, 2
LINE_COLORS = [(0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B)]  # js/views/series.ts LINE_COLORS
STRIP_H, GAP = 14, 2  # js/layout.ts STRIP_HEIGHT and the strips' gap


@pytest.fixture(scope="module")
def series() -> tuple[Any, Any, np.ndarray]:
    import keras

    import fmwidget

    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((STEPS, CHANNELS)),
            keras.layers.Conv1D(3, 5, dilation_rate=2, name="c"),  # linear: signed maps
            keras.layers.MaxPooling1D(2, name="p"),
        ]
    )
    t = np.arange(STEPS, dtype="float32")
    x = np.stack([np.sin(t / 4), 0.5 * np.cos(t / 7) + 0.2], axis=-1).astype("float32")
    return model, fmwidget.FeatureMapWidget(model, x, view="grid", layer="c"), x


def pixels(canvas: Any) -> np.ndarray:
    d = canvas.evaluate(
        """(c) => ({w: c.width, h: c.height,
        data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)})"""
    )
    return np.array(d["data"], np.uint8).reshape(d["h"], d["w"], 4)


def field_by_perturbation(model: Any, x: np.ndarray, layer: str, col: int) -> tuple[int, int]:
    """The input steps that change cell ``col`` (all filters) of ``layer``: ground truth."""
    import keras

    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    base = np.asarray(sub(x[None]))[0, col]
    hit = []
    for t in range(STEPS):
        y = x.copy()
        y[t] += 1.0
        if np.any(np.asarray(sub(y[None]))[0, col] != base):
            hit.append(t)
    return min(hit), max(hit) + 1


def test_input_is_a_line_plot_and_maps_are_strips_of_their_values(
    harness_page: Harness, series: Any
) -> None:
    model, w, x = series
    h = harness_page
    h.mount_widget(w)
    h.ready()
    assert h.root.locator(".fmw-stack[data-rank='1']").count() == 1
    img = pixels(h.root.locator("canvas.fmw-input"))
    k = 224 // STEPS
    assert img.shape[1] == STEPS * k
    height = img.shape[0]
    lo, hi = float(x.min()), float(x.max())
    # every channel's line passes through its value at each step's centre (±2 px)
    for ch, color in enumerate(LINE_COLORS):
        misses = 0
        for t in range(STEPS):
            y = 2 + (height - 4) * (1 - (x[t, ch] - lo) / (hi - lo))
            other = 2 + (height - 4) * (1 - (x[t, 1 - ch] - lo) / (hi - lo))
            if ch == 0 and abs(other - y) < 4:
                continue  # channel 1's line is drawn over channel 0's here
            col = img[max(0, int(y) - 2) : int(y) + 3, t * k + k // 2, :3].astype(int)
            misses += int(np.abs(col - color).sum(axis=1).min() > 60)
        assert misses == 0, f"channel {ch}: {misses} of {STEPS} steps off the line"
    # far from both lines the plot is white
    assert (img[:, :, :3] == 255).all(axis=2).mean() > 0.8

    grid = pixels(h.root.locator("canvas.fmw-grid"))
    maps = np.asarray(model.get_layer("c").output.shape)  # (None, T', 3)
    length, filters = int(maps[1]), int(maps[2])
    assert length == STEPS - 8
    tile_w = grid.shape[1] - 2 * GAP
    assert tile_w >= STEPS  # the strips span the input's steps
    assert grid.shape[0] == GAP + filters * (STRIP_H + GAP)
    values = np.asarray(w.fm["c"])[0].astype(np.float16).astype(np.float64)
    leg = h.root.locator(".fmw-legend")
    m = max(abs(float(leg.get_attribute("data-lo"))), abs(float(leg.get_attribute("data-hi"))))
    want = colorize(values, m, diverging=True)  # (T', filters, 3)
    for f in range(filters):
        y0 = GAP + f * (STRIP_H + GAP)
        strip = grid[y0 : y0 + STRIP_H, GAP : GAP + tile_w, :3]
        assert (strip == strip[0]).all(), "a strip is the same on every pixel row"
        cells = (np.arange(tile_w) * length) // tile_w
        np.testing.assert_array_equal(strip[0], want[cells, f])


def test_hover_shades_the_exact_receptive_field_on_the_input(
    harness_page: Harness, series: Any
) -> None:
    model, w, x = series
    h = harness_page
    h.mount_widget(w)
    h.ready()
    grid = h.root.locator("canvas.fmw-grid")
    box = grid.bounding_box()
    length = STEPS - 8
    tile_w = box["width"] - 2 * GAP
    k = 224 // STEPS
    for col in (0, 13, length - 1):
        x0 = box["x"] + GAP + (col + 0.5) * tile_w / length
        h.page.mouse.move(x0, box["y"] + GAP + STRIP_H + GAP + STRIP_H / 2)  # filter 1
        ro = h.root.locator(f".fmw-readout[data-col='{col}']")
        ro.wait_for(state="attached")
        assert ro.get_attribute("data-filter") == "1"
        assert "step" in ro.inner_text()
        start, stop = field_by_perturbation(model, x, "c", col)
        over = pixels(h.root.locator(".fmw-stack[data-rank='1'] canvas.fmw-overlay"))
        shaded = np.flatnonzero(over[over.shape[0] // 2, :, 3] > 0)
        assert (shaded.min(), shaded.max() + 1) == (start * k, stop * k)
    # a pooled cell (pool 2, stride 2) covers the span of two conv cells
    h.kernel_set("layer", "p")
    h.root.locator(".fmw-layer[aria-selected='true']").filter(has_text="p").wait_for()
    h.page.wait_for_function(
        "() => document.querySelector('.fmw-info').textContent.includes('16 steps')"
    )
    box = grid.bounding_box()
    assert box["width"] - 2 * GAP == tile_w  # pooled strips span the same width
    h.page.mouse.move(box["x"] + GAP + 5.5 * tile_w / 16, box["y"] + GAP + STRIP_H / 2)
    h.root.locator(".fmw-readout[data-col='5']").wait_for(state="attached")
    # max pooling passes on one winner: its field is the union of its window's conv cells'
    a, b = field_by_perturbation(model, x, "c", 10), field_by_perturbation(model, x, "c", 11)
    start, stop = min(a[0], b[0]), max(a[1], b[1])
    over = pixels(h.root.locator(".fmw-stack[data-rank='1'] canvas.fmw-overlay"))
    shaded = np.flatnonzero(over[over.shape[0] // 2, :, 3] > 0)
    assert (shaded.min(), shaded.max() + 1) == (start * k, stop * k)
    assert h.page_errors == []


def test_overview_draws_a_1d_layers_thumbnails_as_strips(
    harness_page: Harness, series: Any
) -> None:
    _, w, _ = series
    h = harness_page
    h.mount_widget(w, view="overview")
    h.page.wait_for_selector('.fmw-overview[data-pending="0"]')
    # compact: strip-shaped slots, so the overview is far shorter than a 2-D model's 500 px
    base = h.root.locator(".fmw-overview canvas").first
    bb = base.bounding_box()
    height = bb["height"]
    assert height <= 250, height
    for layer in ("c", "p"):
        rects = [
            h.page.evaluate(
                "([l, s]) => document.querySelector('.fmw-overview').fmwOverview.clientRect(l, s)",
                [layer, s],
            )
            for s in range(3)
        ]
        for s, r in enumerate(rects):
            assert r["w"] >= 5 * r["h"] > 2, r  # a strip, not a square or a 1-px line
            assert r["y"] + r["h"] < bb["y"] + height
            if s:  # slots follow each other closely: no square slot's white space
                assert 0 < r["y"] - (rects[s - 1]["y"] + rects[s - 1]["h"]) <= 4
        # the strips fill their slots: every pixel painted, each pixel row alike, a gap under
        top, bottom = rects[0], rects[-1]
        px = canvas_px(h, base, {**top, "h": bottom["y"] + bottom["h"] - top["y"] + 2})
        k = px.shape[0] / (bottom["y"] + bottom["h"] + 2 - top["y"])
        for r in rects:
            y0 = round((r["y"] - top["y"]) * k)
            y1 = round((r["y"] + r["h"] - top["y"]) * k)
            strip = px[y0 + 1 : y1 - 1]
            assert (strip[..., 3] == 255).all(), "the strip fills its slot"
            assert (strip == strip[0]).all(), "a strip is the same on every pixel row"
            assert len({tuple(p) for p in strip[0, :, :3]}) > 3, "its values, not a placeholder"
            assert (px[y1 + 1, :, 3] == 0).all(), "the gap under the strip is empty"
        # the pointer finds the strip's map and time step
        r = rects[2]
        h.page.mouse.move(r["x"] + 0.5 * r["w"], r["y"] + r["h"] / 2)
        length = STEPS - 8 if layer == "c" else (STEPS - 8) // 2
        h.page.wait_for_function(
            "([l, c]) => { const d = document.querySelector('.fmw-ov-readout')?.dataset;"
            " return d && d.layer === l && d.filter === '2' && d.col === String(c); }",
            arg=[layer, length // 2],
        )
    assert h.page_errors == []


def canvas_px(h: Harness, canvas: Any, r: dict[str, float]) -> np.ndarray:
    """RGBA pixels of `canvas` inside client rectangle r, as (rows, cols, 4)."""
    d = canvas.evaluate(
        """(c, r) => { const b = c.getBoundingClientRect(); const k = c.width / b.width;
        const x = Math.round((r.x - b.left) * k), y = Math.round((r.y - b.top) * k);
        const w = Math.round(r.w * k), hh = Math.round(r.h * k);
        const d = c.getContext('2d').getImageData(x, y, w, hh).data;
        return {w, h: hh, data: Array.from(d)}; }""",
        r,
    )
    return np.array(d["data"], np.uint8).reshape(d["h"], d["w"], 4)


def test_step_through_speaks_of_time_steps(harness_page: Harness, series: Any) -> None:
    _, w, _ = series
    h = harness_page
    h.page.set_viewport_size({"width": 1280, "height": 800})
    h.mount_widget(w)
    h.ready()
    h.kernel_set("trace_target", {"layer": "p", "filter": 1, "row": 0, "col": 5})
    st = h.root.locator(".fmw-stepper")
    st.wait_for()
    h.page.wait_for_function(
        "() => document.querySelector('.fmw-stepper')?.dataset.frames > 0 && "
        "document.querySelector('.fmw-step-map') && !document.querySelector('.fmw-step-map').hidden"
    )
    assert st.get_attribute("data-series") == "true"
    src = int(w.fm.pool_source("p", (5,), 1)[0])  # the conv step the pool's winner is
    assert src in (10, 11)
    text = st.inner_text()
    assert f"step {src}" in text and "(0," not in text, text
    # the conv stage: the input as a strip (wide and short), the taps at src + 0, 2, …, 8
    canvas = st.locator(".fmw-step-map")
    h.page.wait_for_function(
        "(s) => document.querySelector('.fmw-step-map').dataset.slide === s", arg=f"0,{src}"
    )
    img = pixels(canvas)
    assert img.shape[1] >= 4 * img.shape[0] >= 4 * 16, img.shape
    k = img.shape[1] // STEPS
    orange = np.abs(img[img.shape[0] // 2, :, :3].astype(int) - (255, 140, 0)).sum(1) == 0
    taps = {int(p) // k for p in np.flatnonzero(orange)}
    want = {src + 2 * i for i in range(5)}
    assert taps == want, (taps, want)
    # the max pool: two steps looked at, then the winner (Keras's argmax), all by step
    st.locator('.fmw-step-mode[data-mode="pool"]').click()
    h.page.wait_for_function(
        "() => document.querySelector('.fmw-stepper').dataset.mode === 'pool' && "
        "document.querySelector('.fmw-stepper').dataset.kind"
    )
    n = int(st.get_attribute("data-frames"))
    assert n == 3
    for _ in range(n - 1):
        st.locator(".fmw-step-next").click()
    caption = st.locator(".fmw-step-caption").inner_text()
    assert caption == f"max = step {src}: it becomes the pooled value", caption
    ledger = st.locator(".fmw-step-ledger").inner_text()
    assert "step 10" in ledger and "step 11" in ledger and "(0," not in ledger, ledger
    assert float(st.get_attribute("data-partial")) == pytest.approx(
        float(w.fm["c"][0, src, 1]), rel=1e-3, abs=1e-3
    )
    assert h.page_errors == []


def test_feature_visualisation_of_a_1d_filter_is_a_line_plot(
    harness_page: Harness, series: Any
) -> None:
    import fmwidget

    model, _, x = series
    w = fmwidget.FeatureMapWidget(model, x, view="grid", layer="c")
    w.visualize_options = {"steps": 8}
    h = harness_page
    h.mount_widget(w)
    h.ready()
    h.kernel_set("selected_filters", [2])
    card = h.root.locator('.fmw-card[data-filter="2"]')
    card.wait_for(state="visible")
    card.locator(".fmw-card-vis-btn").click()
    card.locator('.fmw-card-vis[data-ready="1"]').wait_for(state="attached")
    assert card.locator(".fmw-card-vis").get_attribute("data-kind") == "series"
    caption = card.locator(".fmw-card-vis-fig figcaption").inner_text()
    assert f"{STEPS} time steps" in caption and "filter 2 of c" in caption, caption
    img = pixels(card.locator("canvas.fmw-card-vis-img"))
    vis = fmwidget.visualize_filter(model, "c", 2, steps=8, progress=False)  # the cached result
    values = np.clip(vis.image, 0, 1)  # (T, C)
    assert values.shape == (STEPS, CHANNELS)
    k = img.shape[1] // STEPS
    assert img.shape[1] == STEPS * k and k >= 4
    height = img.shape[0]
    lo, hi = float(values.min()), float(values.max())
    assert hi > lo
    # every channel's line passes through its value at each step's centre (±2 px), in its colour
    for ch, color in enumerate(LINE_COLORS):
        misses = 0
        for t in range(STEPS):
            y = 2 + (height - 4) * (1 - (values[t, ch] - lo) / (hi - lo))
            other = 2 + (height - 4) * (1 - (values[t, 1 - ch] - lo) / (hi - lo))
            if ch == 0 and abs(other - y) < 4:
                continue  # channel 1's line is drawn over channel 0's here
            # ±2 px down, ±1 px across (a line's end on the plot's edge is antialiased)
            cx = t * k + k // 2
            near = img[max(0, int(y) - 2) : int(y) + 3, cx - 1 : cx + 2, :3].reshape(-1, 3)
            misses += int(np.abs(near.astype(int) - color).sum(axis=1).min() > 60)
        assert misses == 0, f"channel {ch}: {misses} of {STEPS} steps off the line"
    assert (img[:, :, :3] == 255).all(axis=2).mean() > 0.7  # lines on white
    assert h.page_errors == []
