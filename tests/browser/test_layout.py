"""The grid view's layout: the trace beside the grid at 1280 x 800, below it in a narrow cell,
and the receptive-field outline on the input image never past the image's edge."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .helpers import Harness

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def grid_widget(tiny_maps: Any) -> Any:
    from fmwidget import FeatureMapWidget

    model, x, _ = tiny_maps
    return FeatureMapWidget(model, x, view="grid")


def set_width(h: Harness, width: int, height: int = 800) -> None:
    h.page.set_viewport_size({"width": width, "height": height})
    h.page.evaluate("(w) => { document.body.style.width = w + 'px'; }", width)


def traced(h: Harness, widget: Any) -> None:
    h.mount_widget(widget)
    h.ready()
    h.kernel_set("trace_target", {"layer": "pool", "filter": 1, "row": 6, "col": 6})
    h.root.locator(".fmw-conv .fmw-total").wait_for()
    h.page.wait_for_timeout(100)  # one more layout pass after the trace filled in


def test_grid_and_trace_fit_a_1280_by_800_viewport(harness_page: Harness, grid_widget: Any) -> None:
    h = harness_page
    set_width(h, 1280)
    traced(h, grid_widget)
    grid = h.root.locator(".fmw-gridwrap").bounding_box()
    trace = h.root.locator(".fmw-trace").bounding_box()
    root = h.root.bounding_box()
    assert trace["x"] >= grid["x"] + grid["width"]  # beside the grid, not below it
    assert trace["y"] < grid["y"] + grid["height"]
    assert root["y"] + root["height"] <= 800, root  # nothing below the fold
    assert trace["y"] + trace["height"] <= 800
    assert h.page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    assert h.page_errors == []


def test_a_narrow_cell_puts_the_trace_under_the_grid(
    harness_page: Harness, grid_widget: Any
) -> None:
    h = harness_page
    set_width(h, 700)
    traced(h, grid_widget)
    grid = h.root.locator(".fmw-gridwrap").bounding_box()
    trace = h.root.locator(".fmw-trace").bounding_box()
    assert trace["y"] >= grid["y"] + grid["height"]  # wrapped below
    assert trace["x"] + trace["width"] <= 700 + 1
    assert h.root.evaluate("(r) => r.scrollWidth <= r.clientWidth + 1")
    # the overview fits the narrow cell too: it scrolls inside itself
    h.root.locator(".fmw-tab[data-view='overview']").click()
    h.page.wait_for_selector('.fmw-overview[data-pending="0"]')
    view = h.root.locator(".fmw-overview").bounding_box()
    assert view["x"] + view["width"] <= 700 + 1
    assert h.page_errors == []


@pytest.mark.parametrize("cell", [(25, 25), (0, 0), (0, 25)])
def test_the_outline_of_a_border_cell_stays_on_the_image(
    harness_page: Harness, grid_widget: Any, cell: tuple[int, int]
) -> None:
    h = harness_page
    fm = grid_widget.fm
    h.mount_widget(grid_widget)
    h.ready()
    r, c = cell
    h.kernel_set("hover", {"layer": "conv", "filter": 0, "row": r, "col": c})
    h.page.wait_for_function(
        "([r, c]) => { const d = document.querySelector('.fmw-readout').dataset;"
        " return d.row === String(r) && d.col === String(c); }",
        arg=[r, c],
    )
    image = h.root.locator(".fmw-input").bounding_box()
    overlay = h.root.locator(".fmw-side .fmw-overlay").bounding_box()
    assert overlay == image  # the outline layer is exactly the image
    alpha = np.array(
        h.root.locator(".fmw-side .fmw-overlay").evaluate(
            """(c) => {
                const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                return {a: Array.from(d.filter((_, i) => i % 4 == 3))};
            }"""
        )["a"],
        np.uint8,
    )
    size = round(alpha.size**0.5)
    drawn = np.argwhere(alpha.reshape(size, size) > 0)
    k = size / 28
    rows, cols = fm.receptive_field("conv", cell)
    # the outline hugs the field from the inside: on all four sides, never outside
    assert (
        drawn[:, 0].min() == round(rows.start * k) and drawn[:, 0].max() == round(rows.stop * k) - 1
    )
    assert (
        drawn[:, 1].min() == round(cols.start * k) and drawn[:, 1].max() == round(cols.stop * k) - 1
    )
    assert h.page_errors == []
