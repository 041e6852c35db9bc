"""The widget's stylesheet reaches the tree that shows it, also inside a shadow root.

marimo renders every anywidget inside a shadow root, where a stylesheet in ``document.head``
does not apply: unstyled, the overlay canvases stopped stacking on their maps and pushed the
grid out of view (issue 14). These run the real bundle in the harness page, rendering into a
shadow root the way marimo does (element attached before ``render``) and the way a host that
attaches after ``render`` would.
"""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import KernelResponder, synced_state
from .probes import canvas_summary

pytestmark = pytest.mark.browser

# Renders the real bundle into an element of a fresh open shadow root; with `late`, the element
# is detached during render and attached to the shadow root afterwards.
RENDER_IN_SHADOW = """async ([state, late]) => {
    const {FakeModel} = await import('/fake_model.js');
    const widget = (await import('/widget.js')).default;
    const host = document.createElement('div');
    host.id = 'shadow-host';
    document.getElementById('host').append(host);
    const shadow = host.attachShadow({mode: 'open'});
    const el = document.createElement('div');
    if (!late) shadow.append(el);
    const model = new FakeModel(state);
    window.__fmwModel = model;
    const def = widget();
    await def.initialize({model});
    await def.render({model, el});
    if (late) {
        await new Promise((r) => requestAnimationFrame(r));
        shadow.append(el);
    }
    return true;
}"""

SHADOW_STYLE = """() => {
    const shadow = document.getElementById('shadow-host').shadowRoot;
    const root = shadow.querySelector('.fmw-root');
    const rect = (sel) => {
        const b = shadow.querySelector(sel).getBoundingClientRect();
        return [b.x, b.y, b.width, b.height].map(Math.round);
    };
    return {
        inShadow: shadow.querySelectorAll('style#fmw-style').length,
        rootDisplay: getComputedStyle(root).display,
        overlayPosition: getComputedStyle(shadow.querySelector('.fmw-overlay')).position,
        grid: rect('.fmw-grid'),
        gridOverlay: rect('.fmw-grid + .fmw-overlay'),
    };
}"""


@pytest.fixture(scope="module")
def tiny_widget(tiny_maps: Any) -> Any:
    from fmwidget import FeatureMapWidget

    model, x, _ = tiny_maps
    return FeatureMapWidget(model, x, view="grid")


@pytest.mark.parametrize("late", [False, True], ids=["attached-first", "attached-after-render"])
def test_styles_apply_inside_a_shadow_root(harness_page: Any, tiny_widget: Any, late: bool) -> None:
    h = harness_page
    h.responder = KernelResponder(tiny_widget)
    h.page.evaluate(RENDER_IN_SHADOW, [synced_state(tiny_widget), late])
    ready = h.page.locator('#shadow-host .fmw-root[data-ready="1"]')  # pierces the shadow root
    ready.wait_for(state="visible")
    h.page.wait_for_function(
        "() => document.getElementById('shadow-host').shadowRoot"
        ".querySelector('style#fmw-style') !== null"
    )
    got = h.page.evaluate(SHADOW_STYLE)
    assert got["inShadow"] == 1, got
    assert got["rootDisplay"] == "flex", got
    # each overlay lies exactly on its map (unstyled, it sat below it and pushed the grid away)
    assert got["overlayPosition"] == "absolute", got
    assert got["gridOverlay"] == got["grid"], got
    grid = canvas_summary(ready.locator(".fmw-grid"))
    assert grid["colors"] >= 16 and grid["opaque"] > 0.5, grid
    assert h.page_errors == []
