"""The animated step-through beside the trace: its sums are Keras's, step by step.

A real two-conv Keras model, the real bundle in headless Chromium, the widget's own message
handler as the kernel. Partial sums are checked against numpy on the layer's input map and
kernel (not against the reply the animation was built from).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .helpers import Harness

pytestmark = pytest.mark.browser

STEPPER = ".fmw-stepper"


@pytest.fixture(scope="module")
def two_conv() -> Any:
    import keras

    import fmwidget

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.MaxPooling2D(2, name="p1"),
            keras.layers.Conv2D(
                5, 3, dilation_rate=2, padding="same", activation="relu", name="c2"
            ),
        ]
    )
    x = np.random.default_rng(2).normal(size=(12, 12, 3)).astype("float32")
    return fmwidget.FeatureMapWidget(model, x, view="grid")


def frames(h: Harness) -> list[dict[str, Any]]:
    """Steps through every frame with the step button; the stepper's state after each."""
    st = h.root.locator(STEPPER)
    st.wait_for()
    h.page.wait_for_function(
        "(s) => document.querySelector(s)?.dataset.frames > 0 && "
        "document.querySelector(s).dataset.partial !== ''",
        arg=STEPPER,
    )
    n = int(st.get_attribute("data-frames"))
    out = []
    for i in range(n):
        if i:
            st.locator(".fmw-step-next").click()
        out.append(st.evaluate("(el) => ({...el.dataset})"))
        row = st.locator("tr.fmw-step-now")
        out[-1]["row"] = row.evaluate("(el) => ({...el.dataset})")
    return out


def test_conv_steps_add_up_to_keras(harness_page: Harness, two_conv: Any) -> None:
    import keras

    h = harness_page
    fm = two_conv.fm
    h.page.set_viewport_size({"width": 1280, "height": 800})
    h.mount_widget(two_conv)
    h.ready()
    cell = (2, 1)
    h.kernel_set("trace_target", {"layer": "c2", "filter": 3, "row": cell[0], "col": cell[1]})
    got = frames(h)
    assert got[0]["mode"] == "conv"
    # numpy: the pooled map p1 (5x5x4), c2's kernel, 'same' padding with dilation 2
    src = fm["p1"][0].astype(np.float64)
    layer = two_conv.fm.keras_layer("c2")
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)[..., 3]
    bias = float(keras.ops.convert_to_numpy(layer.bias)[3])
    padded = np.pad(src, ((2, 2), (2, 2), (0, 0)))
    window = padded[cell[0] : cell[0] + 5 : 2, cell[1] : cell[1] + 5 : 2, :]
    terms = (window * kernel).sum(axis=(0, 1))  # one per input map
    kinds = [f["kind"] for f in got]
    assert kinds == ["slide"] + ["term"] * 4 + ["bias", "activation"], kinds
    assert float(got[0]["partial"]) == 0.0
    got = got[1:]  # after the window slid to the cell: the sum, map by map
    running = 0.0
    for f in got[:4]:
        ch = int(f["row"]["channel"])
        running += terms[ch]
        assert float(f["partial"]) == pytest.approx(running, rel=1e-5, abs=1e-6)
        assert float(f["row"]["add"]) == pytest.approx(terms[ch], rel=1e-5, abs=1e-6)
    assert sorted(int(f["row"]["channel"]) for f in got[:4]) == [0, 1, 2, 3]
    pre = float(fm.pre_activation("c2")[0, cell[0], cell[1], 3])
    assert float(got[4]["partial"]) == pytest.approx(running + bias, rel=1e-5, abs=1e-6)
    assert float(got[4]["partial"]) == pytest.approx(pre, rel=1e-5, abs=1e-6)
    assert float(got[-1]["final"]) == pytest.approx(pre, rel=1e-5, abs=1e-6)
    assert float(got[-1]["partial"]) == float(fm["c2"][0, cell[0], cell[1], 3])
    # the last frame shows the ledger of every step in aligned columns
    st = h.root.locator(STEPPER)
    assert st.locator(".fmw-step-ledger tr[data-kind]").count() == len(got) + 1
    # the slide: the window ends on the traced cell
    st.locator(".fmw-step-first").click()
    h.page.wait_for_function(
        "() => document.querySelector('.fmw-step-map').dataset.slide === '2,1'", timeout=5_000
    )
    # kernel numbers on one diverging scale: positive weights red, negative blue
    tds = st.locator(".fmw-kernel td")
    assert tds.count() == 9
    for i in range(9):
        v = float(tds.nth(i).get_attribute("data-value"))
        rgb = tds.nth(i).evaluate("(el) => getComputedStyle(el).backgroundColor")
        r, _, b = (int(c) for c in rgb[rgb.index("(") + 1 : -1].split(",")[:3])
        if abs(v) > 0.05:
            assert (r > b) == (v > 0), (v, rgb)
    # the map of the current input channel, with orange taps at the dilated positions
    st.locator(".fmw-step-next").click()
    ch0 = int(got[0]["row"]["channel"])
    canvas = st.locator(".fmw-step-map")
    px = canvas.evaluate(
        """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
        return {w: c.width, data: Array.from(d.data)}; }"""
    )
    k = px["w"] // 5
    assert k >= 4

    def rgba(x: int, y: int) -> tuple[int, ...]:
        i = (y * px["w"] + x) * 4
        return tuple(px["data"][i : i + 4])

    # taps of (2, 1) with dilation 2: rows 0, 2, 4 and cols (-1), 1, 3 (col -1 is padding)
    for r in (0, 2, 4):
        for c in (1, 3):
            assert rgba(c * k, r * k + k // 2)[:3] == (255, 140, 0), (r, c)
        assert rgba(0 * k + k // 2, r * k + k // 2)[:3] != (255, 140, 0)  # not a tap
    assert ch0 in range(4)
    # beside the grid and above the fold at 1280 x 800
    box = st.bounding_box()
    grid = h.root.locator(".fmw-gridwrap").bounding_box()
    assert box["x"] >= grid["x"] + grid["width"]
    assert box["y"] + box["height"] <= 800, box
    assert h.page_errors == []


def test_max_pool_steps_find_the_keras_winner(harness_page: Harness, two_conv: Any) -> None:
    h = harness_page
    fm = two_conv.fm
    h.mount_widget(two_conv)
    h.ready()
    h.kernel_set("trace_target", {"layer": "p1", "filter": 2, "row": 3, "col": 1})
    st = h.root.locator(STEPPER)
    st.wait_for()
    st.locator('.fmw-step-mode[data-mode="pool"]').click()
    h.page.wait_for_function(
        "(s) => document.querySelector(s)?.dataset.mode === 'pool' && "
        "document.querySelector(s).dataset.kind",
        arg=STEPPER,
    )
    got = frames(h)
    window = fm["c1"][0, 6:8, 2:4, 2]
    assert [f["kind"] for f in got] == ["scan"] * 4 + ["winner"]
    running = -np.inf
    for f, v in zip(got[:4], window.ravel(), strict=True):
        running = max(running, v)
        assert float(f["partial"]) == pytest.approx(running, rel=1e-3, abs=1e-3)  # float16 map
    src = fm.pool_source("p1", (3, 1), 2)
    assert got[-1]["row"]["kind"] == "winner"
    win = st.locator(".fmw-step-winner")
    assert win.count() == 1
    assert float(got[-1]["partial"]) == float(fm["p1"][0, 3, 1, 2])
    assert got[-1]["final"] == got[-1]["partial"]
    assert tuple(src) == (6 + np.argmax(window.ravel()) // 2, 2 + np.argmax(window.ravel()) % 2)
    label = st.locator(".fmw-step-caption").text_content()
    assert f"({src[0]}, {src[1]})" in label
    assert h.page_errors == []


def test_play_runs_to_the_end_and_stops(harness_page: Harness, two_conv: Any) -> None:
    h = harness_page
    h.mount_widget(two_conv)
    h.ready()
    h.kernel_set("trace_target", {"layer": "c2", "filter": 0, "row": 0, "col": 0})
    st = h.root.locator(STEPPER)
    st.wait_for()
    st.locator(".fmw-step-speed").select_option("4")
    st.locator(".fmw-step-play").click()
    assert st.get_attribute("data-playing") == "1"
    h.page.wait_for_function(
        "(s) => document.querySelector(s).dataset.playing === '0'", arg=STEPPER, timeout=8_000
    )
    assert st.get_attribute("data-frame") == str(int(st.get_attribute("data-frames")) - 1)
    assert st.locator(".fmw-step-play").text_content().startswith("▶")
    assert h.page_errors == []
