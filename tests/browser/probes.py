"""Probes of a rendered widget for the real-browser tests: canvases summarised and counted by
colour, the grid hovered until the read-out answers, a losing pool cell clicked, and the
check that nothing model-supplied ran as script.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


# -- canvases ---------------------------------------------------------------------------------
def assert_no_script_ran(page: Any, root: Any, page_errors: list[str]) -> None:
    """No injected markup ran or exists: ``window.__pwned`` unset, no active elements.

    An ``<img src=x>`` injected by the widget would have failed to load by the time this
    probe (same page) has: only then is "``__pwned`` is undefined" meaningful.
    """
    page.evaluate(
        """() => new Promise((done) => {
            const probe = new Image();
            probe.onerror = probe.onload = () => setTimeout(done, 50);
            probe.src = 'data:,x';
        })"""
    )
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert root.locator("script, img, svg, iframe, object, embed").count() == 0
    assert page_errors == []


def canvas_summary(canvas: Any) -> dict[str, Any]:
    """Size, number of distinct RGBA colours and opaque fraction of a canvas (via getImageData)."""
    return canvas.evaluate(
        """(c) => {
            const ctx = c.getContext("2d");
            if (!ctx || c.width === 0 || c.height === 0)
                return {width: c.width, height: c.height, colors: 0, opaque: 0};
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            let opaque = 0;
            for (let i = 0; i < d.length; i += 4) {
                seen.add((d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3]);
                if (d[i + 3] === 255) opaque++;
            }
            return {width: c.width, height: c.height, colors: seen.size,
                    opaque: opaque / (d.length / 4)};
        }"""
    )


# -- hovering a canvas ------------------------------------------------------------------------
READOUT = ".fmw-readout[data-value]"
GRID_POINTS = ((0.12, 0.12), (0.3, 0.4), (0.5, 0.5), (0.37, 0.62), (0.7, 0.3), (0.2, 0.8))


def hover_grid(page: Any, scope: Any, points: Sequence[tuple[float, float]] = GRID_POINTS) -> dict:
    """Moves the mouse over the first ``.fmw-grid`` in ``scope`` until the readout shows a cell.

    Returns the readout's data attributes (layer, filter, row, col, value) as strings.
    Tries a few points in case one lands in the gap between tiles.
    """
    grid = scope.locator(".fmw-grid").first
    grid.scroll_into_view_if_needed()
    readout = scope.locator(READOUT).first
    for fx, fy in points:
        box = grid.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, f"grid has no size: {box}"
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        try:
            readout.wait_for(state="attached", timeout=1_500)
        except Exception:  # playwright TimeoutError: try the next point
            continue
        return readout.evaluate(
            "(el) => ({layer: el.dataset.layer, filter: el.dataset.filter,"
            " row: el.dataset.row, col: el.dataset.col, value: el.dataset.value})"
        )
    raise AssertionError(f"no readout with data-value after hovering {len(points)} grid points")


def click_a_losing_cell(page: Any, scope: Any, fm: Any, pool: str) -> tuple[int, int, int]:
    """Clicks (real mouse) a cell of the shown layer that lost its max-pool window to a larger
    value, hovering a lattice of points over the grid until one lands on such a cell.

    Returns the clicked ``(filter, row, col)``; the winner is ``fm.pool_source``'s.
    """
    grid = scope.locator(".fmw-grid").first
    grid.scroll_into_view_if_needed()
    readout = scope.locator(READOUT).first
    box = grid.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, f"grid has no size: {box}"
    for k in range(1, 200):
        fx, fy = (k * 0.618034) % 1, (k * 0.754878) % 1  # spread over the whole grid
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        try:
            readout.wait_for(state="attached", timeout=500)
        except Exception:  # a gap between tiles
            continue
        ds = readout.evaluate("(el) => ({...el.dataset})")
        layer, f, r, c = ds["layer"], int(ds["filter"]), int(ds["row"]), int(ds["col"])
        holders = [tuple(int(v) for v in h) for h in np.argwhere(fm.cells_reading(pool, (r, c)))]
        if len(holders) != 1:
            continue
        win = fm.pool_source(pool, holders[0], f)
        if win != (r, c) and fm[layer][(0, *win, f)] > fm[layer][0, r, c, f]:
            page.mouse.down()
            page.mouse.up()
            return f, r, c
    raise AssertionError("no cell that lost its pooling window under the points tried")


def count_color(canvas: Any, rgb: tuple[int, int, int]) -> int:
    """Opaque pixels of exactly ``rgb`` in a canvas."""
    return canvas.evaluate(
        """(c, rgb) => {
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                const same = d[i] === rgb[0] && d[i + 1] === rgb[1] && d[i + 2] === rgb[2];
                if (same && d[i + 3] === 255) n++;
            }
            return n;
        }""",
        list(rgb),
    )
