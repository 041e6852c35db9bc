"""Hostile content and hard values in the real bundle (harness page, real FeatureMapWidget).

- Layer and model names that are HTML (``<script>``, ``<img onerror>``, ``<svg onload>``),
  very long or non-ASCII render as plain text and no script runs.
- NaN and ±Inf cells are drawn magenta, read out as ``NaN`` / ``∞`` / ``-∞`` (a minus
  sign), and do not move the colour range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .probes import assert_no_script_ran

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
SVG = "<svg onload=window.__pwned=1>"
LONG = "very_long_layer_name_" * 15  # 315 characters
UNICODE = "слой_层_レイヤー_طبقة_🙂_e\u0301"
MAGENTA = (255, 0, 255, 255)


@pytest.fixture(scope="module")
def hostile_widget() -> Any:
    """A real nested model whose path names are HTML, very long and non-ASCII."""
    import keras

    from fmwidget import FeatureMapWidget

    L = keras.layers
    # Keras forbids "/" in names, but fmwidget joins nested names with it: the inner conv's
    # path is exactly SCRIPT.
    inner = keras.Sequential(
        [keras.Input((12, 12, 4)), L.Conv2D(3, 3, name="script>")], name="<script>window.__pwned=1<"
    )
    inp = keras.Input((12, 12, 1), name="image")
    x = L.Conv2D(4, 1, name=IMG)(inp)
    x = L.ReLU(name=SVG)(x)
    x = inner(x)
    x = L.MaxPooling2D(2, name=LONG)(x)
    x = L.Conv2D(2, 1, name=UNICODE)(x)
    model = keras.Model(inp, x, name=IMG)
    rng = np.random.default_rng(0)
    return FeatureMapWidget(model, rng.random((12, 12, 1)).astype("float32"), view="grid")


def test_hostile_names_are_plain_text(harness_page: Any, hostile_widget: Any) -> None:
    names = hostile_widget.fm.names
    assert SCRIPT in names and IMG in names and LONG in names and UNICODE in names
    h = harness_page
    h.mount_widget(hostile_widget)
    ready = h.ready()
    text = ready.inner_text()
    for name in (IMG, SVG, SCRIPT, LONG, UNICODE):
        assert name in text, name
    strip = [
        h.root.locator(f".fmw-layer[data-index='{i}']").inner_text() for i in range(len(names))
    ]
    for i, name in enumerate(names):
        if i:
            assert name.split("/")[-1] in strip[i], (name, strip[i])
    assert_no_script_ran(h.page, h.root, h.page_errors)
    # show and trace each hostile layer: names reach the grid, the readout and the trace panel
    for name in (SCRIPT, LONG, UNICODE):
        h.kernel_set("layer", name)
        h.page.wait_for_function(
            "(n) => document.querySelector('.fmw-layer[aria-selected=\"true\"]')"
            "?.textContent.includes(n.split('/').pop())",
            arg=name,
        )
        h.kernel_set("hover", {"layer": name, "filter": 1, "row": 0, "col": 0})
        readout = h.root.locator(".fmw-readout[data-value]")
        readout.wait_for()
        assert readout.get_attribute("data-layer") == name
        assert name in readout.inner_text()
        h.kernel_set("trace_target", {"layer": name, "filter": 1, "row": 0, "col": 0})
        h.page.wait_for_function(
            "(n) => [...document.querySelectorAll('.fmw-trace-step')]"
            ".some((s) => s.dataset.layer === n)",
            arg=name,
        )
        assert_no_script_ran(h.page, h.root, h.page_errors)
    # the widget still fits its page: a long name does not push it sideways
    width = h.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1280, width


def test_hostile_model_name_and_error_text(harness_page: Any, hostile_widget: Any) -> None:
    h = harness_page
    h.mount_widget(hostile_widget, model_name=SCRIPT + SVG)
    ready = h.ready()
    assert SCRIPT + SVG in ready.inner_text()
    h.kernel_set("error", f"Expected {IMG}, received {SCRIPT}")
    error = h.root.locator(".fmw-error")
    h.page.wait_for_function(
        "(t) => document.querySelector('.fmw-error')?.textContent.includes(t)", arg=SCRIPT
    )
    assert f"Expected {IMG}, received {SCRIPT}" in error.inner_text()
    # an error reply from the kernel (unknown layer asked for by a hostile name) is text too
    h.reply({"type": "error", "request_id": None, "message": IMG + SCRIPT})
    h.page.wait_for_function(
        "(t) => document.querySelector('.fmw-error')?.textContent.includes(t)", arg=IMG + SCRIPT
    )
    assert_no_script_ran(h.page, h.root, h.page_errors)


# -- NaN and ±Inf ---------------------------------------------------------------------------------
def _signs_widget(x: np.ndarray) -> Any:
    """1x1 conv (channel 0 = x, channel 1 = -x) and a pooling layer, as in test_widget_values."""
    import keras

    from fmwidget import FeatureMapWidget

    inp = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(2, 1, name="c")
    model = keras.Model(inp, keras.layers.MaxPooling2D(2, name="p")(conv(inp)), name="signs")
    conv.set_weights([np.array([1.0, -1.0], "float32").reshape(1, 1, 1, 2), np.zeros(2, "float32")])
    return FeatureMapWidget(model, x, view="grid")


def _magenta_pixels(h: Any) -> int:
    return h.root.locator(".fmw-grid").evaluate(
        """(c, bad) => {
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4)
                if (d[i] === bad[0] && d[i + 1] === bad[1] && d[i + 2] === bad[2]) n++;
            return n;
        }""",
        list(MAGENTA),
    )


def test_nan_and_inf_are_magenta_and_read_out(harness_page: Any) -> None:
    x = np.linspace(-1, 1, 36, dtype="float32").reshape(6, 6, 1)
    clean = _signs_widget(x.copy())
    x[0, 0, 0], x[2, 3, 0], x[4, 4, 0] = np.nan, np.inf, -np.inf
    w = _signs_widget(x)
    h = harness_page

    h.mount_widget(clean)
    h.ready()
    assert _magenta_pixels(h) == 0  # magenta is in none of the colormaps

    h.page.evaluate("() => window.__fmwCleanup()")
    h.page.evaluate("() => { document.getElementById('host').innerHTML = ''; }")
    h.mount_widget(w)
    h.ready()
    h.page.wait_for_function("() => document.querySelector('.fmw-legend')?.dataset.hi")
    assert _magenta_pixels(h) > 0
    # the colour range ignores NaN/Inf: it is the finite range of the layer, [-1, 1]
    legend = h.root.locator(".fmw-legend")
    lo, hi = float(legend.get_attribute("data-lo")), float(legend.get_attribute("data-hi"))
    assert np.isfinite([lo, hi]).all() and lo >= -1.0 - 1e-3 and hi <= 1.0 + 1e-3, (lo, hi)
    readout = h.root.locator(".fmw-readout[data-value]")
    for (row, col), filt, value, text in [
        ((0, 0), 0, "NaN", "value NaN"),
        ((2, 3), 0, "Infinity", "value ∞"),
        ((2, 3), 1, "-Infinity", "value \u2212∞"),
        ((1, 1), 0, None, None),
    ]:
        h.kernel_set("hover", {"layer": "c", "filter": filt, "row": row, "col": col})
        h.page.wait_for_function(
            "([r, c, f]) => { const d = document.querySelector('.fmw-readout')?.dataset;"
            " return d && d.row === String(r) && d.col === String(c) && d.filter === String(f); }",
            arg=[row, col, filt],
        )
        if value is None:  # a finite neighbour reads its float16 value
            assert float(readout.get_attribute("data-value")) == pytest.approx(
                float(w.fm["c"][0, row, col, filt]), rel=2e-3
            )
            continue
        assert readout.get_attribute("data-value") == value
        assert text in readout.inner_text()
    # the trace of a NaN cell arrives (the kernel sends "NaN"; the browser reads a number)
    h.kernel_set("trace_target", {"layer": "c", "filter": 0, "row": 0, "col": 0})
    step = h.root.locator(".fmw-trace-step").first
    step.wait_for()
    assert "NaN" in step.inner_text()
    assert h.page_errors == []
