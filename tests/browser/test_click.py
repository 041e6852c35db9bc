"""A click traces the cell the hover highlighted, also within a pixel of a cell edge.

Chromium gives pointer events exact (fractional) coordinates but a click whole pixels, so on a
page laid out at a fractional offset (marimo's editor, any zoomed or high-DPI page) the click's
point can fall in the neighbouring cell. Found by the marimo host test (issue 14).
"""

from __future__ import annotations

from typing import Any

import pytest

from .probes import READOUT

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_widget(tiny_maps: Any) -> Any:
    from fmwidget import FeatureMapWidget

    model, x, _ = tiny_maps
    return FeatureMapWidget(model, x, view="grid")


def _readout_row(h: Any) -> int | None:
    row = h.page.locator(READOUT).first
    return int(row.get_attribute("data-row")) if row.count() else None


@pytest.mark.parametrize("pane", [".fmw-grid", ".fmw-detail-item canvas"])
def test_click_near_a_cell_edge_traces_the_highlighted_cell(
    harness_page: Any, tiny_widget: Any, pane: str
) -> None:
    h = harness_page
    h.page.add_style_tag(content="#host { padding-top: 0.5px }")  # a fractional page offset
    h.mount_widget(tiny_widget)
    ready = h.ready()
    if pane != ".fmw-grid":  # the detail view shows the selected filter
        h.kernel_set("selected_filters", [1])
    canvas = ready.locator(pane).first
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    assert box is not None and box["height"] > 20, box
    x = box["x"] + 0.3 * box["width"] if pane != ".fmw-grid" else box["x"] + 0.12 * box["width"]
    y = box["y"] + 0.12 * box["height"]
    h.page.mouse.move(x, y)
    h.page.locator(READOUT).first.wait_for(state="attached")
    start = _readout_row(h)
    # walk down in 0.1 px steps to the first point of the next row
    for _ in range(200):
        y += 0.1
        h.page.mouse.move(x, y)
        if _readout_row(h) != start:
            break
    shown = h.page.locator(READOUT).first.evaluate("(el) => ({...el.dataset})")
    assert int(shown["row"]) == start + 1, (start, shown)
    assert int(y) < y, "the edge must sit at a fractional pixel for this test to mean anything"
    h.page.mouse.down()
    h.page.mouse.up()
    target = h.wait_for_trait("trace_target")
    assert target == {
        "layer": shown["layer"],
        "filter": int(shown["filter"]),
        "row": int(shown["row"]),
        "col": int(shown["col"]),
    }
    assert h.page_errors == []
