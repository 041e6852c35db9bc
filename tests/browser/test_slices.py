"""Volumes (Conv3D): the grid shows one depth slice of every map, chosen with the slice
scrubber (slider and keys); hover outlines the field on the input slice it reaches and the
scrubber tells its depth range. Real Keras model, real bundle, headless Chromium; pixels read
back with getImageData and compared with Keras's values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fmwidget.render import colorize

from .helpers import Harness

pytestmark = pytest.mark.browser

SHAPE = (6, 8, 8, 1)  # depth, height, width, channels
MAP = (4, 6, 6)  # conv "c" (kernel 3, valid): depth, height, width


@pytest.fixture(scope="module")
def volume() -> tuple[Any, Any, np.ndarray]:
    import keras

    import fmwidget

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            keras.layers.Conv3D(2, 3, name="c"),  # linear: signed maps
            keras.layers.MaxPooling3D(2, name="p"),
        ]
    )
    x = np.random.default_rng(8).random(SHAPE).astype("float32")
    return model, fmwidget.FeatureMapWidget(model, x, view="grid", layer="c"), x


def pixels(canvas: Any) -> np.ndarray:
    d = canvas.evaluate(
        """(c) => ({w: c.width, h: c.height,
        data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)})"""
    )
    return np.array(d["data"], np.uint8).reshape(d["h"], d["w"], 4)


def slice_colors(h: Harness) -> np.ndarray:
    """The colour at the centre of every cell of map 0 and map 1 in the grid: (2, H, W, 3)."""
    grid = pixels(h.root.locator("canvas.fmw-grid"))
    zoom = int(h.root.locator(".fmw-info").inner_text().split("zoom \u00d7")[1].split()[0])
    gap = 2
    tile = MAP[2] * zoom
    out = np.zeros((2, MAP[1], MAP[2], 3), np.uint8)
    for f in range(2):
        x0 = gap + f * (tile + gap)  # index order: both maps in the first row
        for r in range(MAP[1]):
            for c in range(MAP[2]):
                out[f, r, c] = grid[gap + r * zoom + zoom // 2, x0 + c * zoom + zoom // 2, :3]
    return out


def expected(h: Harness, w: Any, z: int) -> np.ndarray:
    values = np.asarray(w.fm["c"])[0].astype(np.float16).astype(np.float64)  # (D, H, W, C)
    leg = h.root.locator(".fmw-legend")
    m = max(abs(float(leg.get_attribute("data-lo"))), abs(float(leg.get_attribute("data-hi"))))
    return np.moveaxis(colorize(values[z], m, diverging=True), -2, 0)  # (C, H, W, 3)


def field_by_perturbation(model: Any, x: np.ndarray, cell: tuple[int, int, int]) -> list:
    """Input slices, rows and columns whose change moves conv cell ``cell``: ground truth."""
    import keras

    sub = keras.Model(model.inputs, model.get_layer("c").output)
    base = np.asarray(sub(x[None]))[0][cell]
    spans = []
    for axis in range(3):
        hit = []
        for i in range(SHAPE[axis]):
            y = x.copy()
            index = [slice(None)] * 4
            index[axis] = i
            y[tuple(index)] += 1.0
            if np.any(np.asarray(sub(y[None]))[0][cell] != base):
                hit.append(i)
        spans.append((min(hit), max(hit) + 1))
    return spans


def open_slice(h: Harness, w: Any, z: int) -> tuple[dict, int]:
    """Mounts ``w`` and shows depth slice ``z``: the grid's box then, and its pixels per cell."""
    h.mount_widget(w)
    h.ready()
    zoom = int(h.root.locator(".fmw-info").inner_text().split("zoom \u00d7")[1].split()[0])
    h.root.locator("input.fmw-slice").fill(str(z))
    h.root.locator(f".fmw-slices[data-slice='{z}']").wait_for()
    return h.root.locator("canvas.fmw-grid").bounding_box(), zoom


def test_the_scrubber_and_keys_change_the_slice_shown(harness_page: Harness, volume: Any) -> None:
    _, w, _ = volume
    h = harness_page
    h.mount_widget(w)
    h.ready()
    bar = h.root.locator(".fmw-slices")
    assert bar.is_visible()
    assert (bar.get_attribute("data-depth"), bar.get_attribute("data-slice")) == ("4", "2")
    info = h.root.locator(".fmw-info").inner_text()
    assert "4\u00d76\u00d76 (depth slice 2)" in info  # maps of one slice
    np.testing.assert_array_equal(slice_colors(h), expected(h, w, 2))
    h.root.locator(".fmw-gridwrap").focus()
    h.page.keyboard.press(".")
    h.root.locator(".fmw-slices[data-slice='3']").wait_for()
    np.testing.assert_array_equal(slice_colors(h), expected(h, w, 3))
    assert h.root.locator(".fmw-slice-index").inner_text() == "3 of 0\u20133"
    h.page.keyboard.press(".")  # past the last slice: stays
    h.page.keyboard.press(",")
    h.page.keyboard.press(",")
    h.root.locator(".fmw-slices[data-slice='1']").wait_for()
    np.testing.assert_array_equal(slice_colors(h), expected(h, w, 1))
    h.root.locator("input.fmw-slice").fill("0")  # the slider
    h.root.locator(".fmw-slices[data-slice='0']").wait_for()
    np.testing.assert_array_equal(slice_colors(h), expected(h, w, 0))
    assert not np.array_equal(expected(h, w, 0), expected(h, w, 1))  # slices do differ
    assert h.page_errors == []


def test_hover_outlines_the_field_box_on_the_input_slice_it_reaches(
    harness_page: Harness, volume: Any
) -> None:
    model, w, x = volume
    h = harness_page
    z, r, c = 1, 4, 2
    box, zoom = open_slice(h, w, z)
    h.page.mouse.move(box["x"] + 2 + (c + 0.5) * zoom, box["y"] + 2 + (r + 0.5) * zoom)
    ro = h.root.locator(f".fmw-readout[data-row='{r}'][data-col='{c}']")
    ro.wait_for(state="attached")
    assert ro.get_attribute("data-depth") == str(z)
    assert f"depth {z}" in ro.inner_text()
    value = float(ro.get_attribute("data-value"))
    assert value == pytest.approx(float(np.asarray(w.fm["c"])[0, z, r, c, 0]), rel=2e-3)
    (d0, d1), (r0, r1), (c0, c1) = field_by_perturbation(model, x, (z, r, c, 0))
    bar = h.root.locator(".fmw-slices")
    assert bar.get_attribute("data-field") == f"{d0},{d1}"
    # the input panel shows the middle slice of the field's depth range, outlined at the field
    shown = (d0 + d1 - 1) // 2
    img = pixels(h.root.locator("canvas.fmw-input"))
    k = img.shape[0] // SHAPE[1]
    grey = img[k // 2 :: k, k // 2 :: k, 0].astype(float)
    assert np.corrcoef(grey.ravel(), x[shown, :, :, 0].ravel())[0, 1] > 0.99
    other = x[(shown + 3) % SHAPE[0], :, :, 0].ravel()
    assert np.corrcoef(grey.ravel(), other)[0, 1] < 0.9
    over = pixels(h.root.locator(".fmw-stack:has(> canvas.fmw-input) > canvas.fmw-overlay"))
    ys, xs = np.nonzero(over[:, :, 3])
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (r0 * k, r1 * k, c0 * k, c1 * k)
    assert h.page_errors == []


def test_overview_of_a_volume_model_paints_every_column(harness_page: Harness, volume: Any) -> None:
    _, w, _ = volume
    h = harness_page
    h.mount_widget(w, view="overview")
    h.page.wait_for_selector('.fmw-overview[data-pending="0"]')
    assert h.root.locator(".fmw-ov-col").count() == 3
    r = h.page.evaluate(
        "() => document.querySelector('.fmw-overview').fmwOverview.clientRect('c', 0)"
    )
    assert r["w"] == pytest.approx(r["h"]) and r["w"] > 0  # a 6x6 slice: square
    assert h.page_errors == []


def test_a_click_traces_the_cell_in_3d_to_its_pool_winner(
    harness_page: Harness, volume: Any
) -> None:
    """conv cell (depth, row, col) → 3-D max-pool cell, checked against Keras's own pooling."""
    model, w, x = volume
    h = harness_page
    z, r, c = 1, 2, 3
    box, zoom = open_slice(h, w, z)
    h.page.mouse.click(box["x"] + 2 + (c + 0.5) * zoom, box["y"] + 2 + (r + 0.5) * zoom)
    h.root.locator(".fmw-trace-step[data-layer='p']").wait_for()
    target = h.wait_for_trait("trace_target")  # what the browser set, as the kernel gets it
    assert target == {"layer": "c", "filter": 0, "row": r, "col": c, "depth": z}
    conv = np.asarray(w.fm["c"])[0, ..., 0]  # (D, H, W)
    pooled = np.asarray(w.fm["p"])[0, ..., 0]
    want = np.asarray(model(x[None]))[0, ..., 0]  # Keras's MaxPooling3D on its own
    np.testing.assert_array_equal(pooled, want)
    cell = (z // 2, r // 2, c // 2)  # the 2x2x2 window holding the clicked cell
    window = conv[2 * cell[0] : 2 * cell[0] + 2, 2 * cell[1] : 2 * cell[1] + 2,
                  2 * cell[2] : 2 * cell[2] + 2]  # fmt: skip
    win = np.unravel_index(np.argmax(window), window.shape)  # first max, row-major
    winner = tuple(2 * cell[i] + int(win[i]) for i in range(3))
    steps = h.root.locator(".fmw-trace-step")
    conv_card, pool_card = steps.nth(0).inner_text(), steps.nth(1).inner_text()
    # the chain shows the cell that won the max (the clicked one when it won)
    assert f"({winner[0]}, {winner[1]}, {winner[2]})" in conv_card
    assert f"({cell[0]}, {cell[1]}, {cell[2]})" in pool_card
    assert f"winner ({winner[0]}, {winner[1]}, {winner[2]})" in pool_card
    assert f"value {float(want[cell]):.3g}"[:9] in pool_card.replace("\u2212", "-")
    assert "depth" in pool_card  # its window names its depth slices
    if winner != (z, r, c):
        assert f"you clicked ({z}, {r}, {c})" in conv_card
    assert h.root.locator(".fmw-stepper").count() == 0  # steps through 1-D and 2-D only
    mini = pixels(steps.nth(0).locator("canvas.fmw-trace-map"))
    assert mini.shape[0] == mini.shape[1] and mini[..., 3].min() == 255  # one slice, painted
    assert h.page_errors == []


def test_feature_visualisation_of_a_3d_filter_shows_its_depth_slices(
    harness_page: Harness, volume: Any
) -> None:
    import fmwidget

    model, _, x = volume
    w = fmwidget.FeatureMapWidget(model, x, view="grid", layer="c")
    w.visualize_options = {"steps": 4}
    h = harness_page
    h.mount_widget(w)
    h.ready()
    h.kernel_set("selected_filters", [1])
    card = h.root.locator('.fmw-card[data-filter="1"]')
    card.wait_for(state="visible")
    card.locator(".fmw-card-vis-btn").click()
    card.locator('.fmw-card-vis[data-ready="1"]').wait_for(state="attached")
    assert card.locator(".fmw-card-vis").get_attribute("data-kind") == "slices"
    caption = card.locator(".fmw-card-vis-fig figcaption").inner_text()
    assert f"depth slices 0\u2013{SHAPE[0] - 1}, left to right" in caption, caption
    img = pixels(card.locator("canvas.fmw-card-vis-img"))
    vis = fmwidget.visualize_filter(model, "c", 1, steps=4, progress=False)  # the cached result
    grey = np.round(np.clip(vis.image, 0, 1) * 255).astype(np.uint8)[..., 0]  # (D, H, W)
    d, hh, ww = grey.shape
    assert img.shape[:2] == (hh, d * ww + d - 1)  # slices side by side, 1 px apart
    for z in range(d):
        np.testing.assert_array_equal(img[:, z * (ww + 1) : z * (ww + 1) + ww, 0], grey[z])
    shown = card.locator("canvas.fmw-card-vis-img").bounding_box()
    assert shown["width"] > 128  # wider than an image's 128 px: slices are readable
    assert h.page_errors == []
