"""Compare view: both inputs' maps side by side, their difference, the per-layer change.

Real Keras model, real bundle in headless Chromium, the widget's own handler as the kernel;
pixels read with getImageData.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .helpers import Harness, synced_state

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shifted() -> Any:
    import keras

    import fmwidget

    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(2, name="p1"),
        ]
    )
    x = np.zeros((16, 16, 1), "float32")
    x[4:11, 5:9] = 1.0
    x[6:8, 6:8] = 2.0
    w = fmwidget.FeatureMapWidget(model, x, view="grid")
    w.compare(shift=(0, 1))
    return w


def pixels(canvas: Any) -> np.ndarray:
    d = canvas.evaluate(
        """(c) => ({w: c.width, h: c.height,
        data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)})"""
    )
    return np.array(d["data"], np.uint8).reshape(d["h"], d["w"], 4)


def open_layer(h: Harness, layer: str) -> Any:
    cmp = h.root.locator(".fmw-compare")
    cmp.locator(f'.fmw-cmp-row[data-layer="{layer}"]').click()
    cmp.locator(f'.fmw-cmp-maps[data-layer="{layer}"]').wait_for()
    return cmp


def test_compare_view_shows_both_maps_their_difference_and_the_change(
    harness_page: Harness, shifted: Any
) -> None:
    h = harness_page
    h.page.set_viewport_size({"width": 1280, "height": 800})
    h.mount_widget(shifted)
    cmp = h.root.locator('.fmw-compare[data-state="ready"]')
    cmp.wait_for()
    assert h.root.get_attribute("data-view") == "compare"
    # one bar per spatial layer, with the change numpy computes
    rows = cmp.locator(".fmw-cmp-row")
    assert rows.count() == 3
    fm = shifted.fm
    import fmwidget

    fb = fmwidget.extract(shifted.model, fmwidget.compare.shift_input(fm.input[0], 0, 1))
    for i in range(3):
        name = rows.nth(i).get_attribute("data-layer")
        a, b = fm[name][0].astype(np.float64), fb[name][0].astype(np.float64)
        want = np.linalg.norm(b - a) / np.linalg.norm(a)
        assert float(rows.nth(i).get_attribute("data-change")) == pytest.approx(want, rel=1e-6)
    # the input: B's pixels are A's moved one column right; B - A is neutral where equal
    cmp = open_layer(h, "input")
    a = pixels(cmp.locator(".fmw-cmp-a").first)
    b = pixels(cmp.locator(".fmw-cmp-b").first)
    diff = pixels(cmp.locator(".fmw-cmp-diff").first)
    k = a.shape[1] // 16
    assert k >= 2
    cells = lambda img: img[k // 2 :: k, k // 2 :: k, :3].astype(int)  # noqa: E731
    ca, cb, cd = cells(a), cells(b), cells(diff)
    assert np.array_equal(cb[:, 1:], ca[:, :-1])
    assert not np.array_equal(ca, cb)
    xa, xb = fm["input"][0, :, :, 0], fb["input"][0, :, :, 0]
    d = xb - xa
    neutral = cd[d == 0]
    assert len(neutral) > 100 and (neutral == neutral[0]).all()
    assert neutral[0].min() > 230  # the diverging scale's white centre
    red = cd[d == d.max()]
    blue = cd[d == d.min()]
    # the ends of the diverging scale (RdBu: dark red for +, dark blue for -)
    assert (red[:, 0] > 2 * red[:, 2]).all() and (red[:, 0] > 80).all(), red[:3]
    assert (blue[:, 2] > 2 * blue[:, 0]).all() and (blue[:, 2] > 80).all(), blue[:3]
    # a conv layer: three maps, every map of A and B painted on one range
    cmp = open_layer(h, "c1")
    assert cmp.locator(".fmw-cmp-a").count() == 3
    lo = {cmp.locator(".fmw-cmp-a").nth(i).get_attribute("data-hi") for i in range(3)}
    lo |= {cmp.locator(".fmw-cmp-b").nth(i).get_attribute("data-hi") for i in range(3)}
    assert len(lo) == 1
    m = max(np.abs(fm["c1"][0]).max(), np.abs(fb["c1"][0]).max())
    assert float(lo.pop()) == pytest.approx(float(m), rel=1e-6)
    box = h.root.bounding_box()
    assert box["y"] + box["height"] <= 800, box
    assert h.page_errors == []


def test_the_shift_control_reaches_python(harness_page: Harness, shifted: Any) -> None:
    h = harness_page
    h.mount_widget(shifted)
    cmp = h.root.locator('.fmw-compare[data-state="ready"]')
    cmp.wait_for()
    cmp.locator(".fmw-cmp-dy").fill("2")
    cmp.locator(".fmw-cmp-dx").fill("-1")
    cmp.locator(".fmw-cmp-go").click()
    sets = [s for s in h.sets() if s["key"] == "compare_shift"]
    assert sets[-1]["value"] == [2, -1]
    shifted.compare_shift = sets[-1]["value"]  # what the kernel does with the change
    assert shifted.comparison["shift"] == [2, -1]
    h.kernel_set("comparison", synced_state(shifted)["comparison"])
    h.page.wait_for_function(
        "(v) => document.querySelector('.fmw-compare').dataset.version === String(v)",
        arg=shifted.comparison["version"],
    )
    label = cmp.locator(".fmw-cmp-head").text_content()
    assert "shifted by (2, -1)" in label
    assert h.page_errors == []
