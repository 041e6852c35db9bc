"""The static HTML export in headless Chromium with every network request refused.

The exported file is served as the only URL of 127.0.0.1 (Playwright's ``page.route``), or
opened from ``file://`` as a user double-clicking it would; every other request, to 127.0.0.1
or anywhere else, is refused and recorded. No kernel, no harness: the page runs on what it
embeds.
"""

from __future__ import annotations

import collections
import json
import math
import pathlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from test_export import pools_cnn, tie_image

from .helpers import HOSTILE, new_context, tiny_cnn_and_input
from .hosts import assert_painted, hover_and_trace, python_matches
from .probes import (
    assert_no_script_ran,
    canvas_summary,
    click_a_losing_cell,
    count_color,
    hover_grid,
)

pytestmark = pytest.mark.browser

ORIGIN = "http://127.0.0.1:47835"


class ExportPage:
    """One exported HTML file open in a fresh, offline browser context.

    With ``from_file`` the page is opened from its ``file://`` URL (only that one file is let
    through the network guard); otherwise it is served as ``ORIGIN/export.html``.
    """

    def __init__(self, browser: Any, path: pathlib.Path, *, from_file: bool = False):
        self.ctx = new_context(browser, viewport={"width": 1280, "height": 900})
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(10_000)
        self.requests: list[str] = []
        self.page_errors: list[str] = []
        body = path.read_bytes()
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        self.url = path.resolve().as_uri() if from_file else f"{ORIGIN}/export.html"

        def serve(route: Any) -> None:
            if route.request.url != self.url:
                route.abort("blockedbyclient")
            elif from_file:  # the browser reads the file itself
                route.continue_()
            else:
                route.fulfill(status=200, content_type="text/html", body=body)

        # page routes come before the context's guard, which refuses file:// like any non-local
        self.page.route("file://**" if from_file else f"{ORIGIN}/**", serve)
        self.page.goto(self.url)
        self.root = self.page.locator(".fmw-root")

    def ready(self) -> Any:
        ready = self.page.locator('.fmw-root[data-ready="1"]')
        ready.wait_for(state="visible")
        return ready

    def get(self, key: str) -> Any:
        return self.page.evaluate("(k) => window.__fmwStatic.get(k)", key)

    def set(self, key: str, value: Any) -> None:
        self.page.evaluate("([k, v]) => window.__fmwStatic.set(k, v)", [key, value])

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture
def open_export(browser: Any, keep_artifacts: Any) -> Iterator[Any]:
    pages: list[ExportPage] = []

    def open_(path: pathlib.Path, *, from_file: bool = False) -> ExportPage:
        p = ExportPage(browser, path, from_file=from_file)
        pages.append(p)
        return p

    yield open_
    for p in pages:
        keep_artifacts(p.page)
        p.close()


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pathlib.Path]:
    from fmwidget import FeatureMapWidget

    model, x = tiny_cnn_and_input()
    w = FeatureMapWidget(model, x, view="grid")
    report = w.save_html(tmp_path_factory.mktemp("export") / "tiny.html")
    print(f"\ntiny export: {report.bytes} bytes, {report.values} values")
    return w, report.path


@pytest.fixture(scope="module")
def pools_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pathlib.Path]:
    from fmwidget import FeatureMapWidget

    w = FeatureMapWidget(pools_cnn(), tie_image(20, 23, 2), view="grid")
    report = w.save_html(tmp_path_factory.mktemp("export") / "pools.html")
    return w, report.path


def _value(fm: Any, layer: str, f: int, r: int, c: int, pre: bool = False) -> float:
    arr = fm.pre_activation(layer) if pre else fm[layer]
    return float(arr[0, r, c, f])  # channels_last (batch, H, W, C)


def _close3(got: float, want: float, peak: float = 1.0) -> bool:
    """Equal to 3 significant digits (float16 keeps ~3.3), small values up to the layer peak."""
    return math.isclose(got, want, rel_tol=2e-3, abs_tol=1e-4 * peak)


def _no_network(p: ExportPage) -> None:
    assert p.requests == [p.url], p.requests


def test_export_renders_and_hovers_offline(open_export: Any, tiny_export: Any) -> None:
    widget, path = tiny_export
    fm = widget.fm
    p = open_export(path)
    ready = p.ready()
    assert "tiny_cnn" in ready.inner_text()
    assert ready.locator(".fmw-error").inner_text() == ""
    grid = canvas_summary(ready.locator(".fmw-grid"))
    assert grid["width"] >= 26 * 2 and grid["height"] >= 26, grid
    assert grid["colors"] >= 16 and grid["opaque"] > 0.5, grid
    image = canvas_summary(ready.locator(".fmw-input"))
    assert image["colors"] >= 16 and image["opaque"] > 0.5, image

    cell = hover_grid(p.page, p.root)
    layer, f, r, c = cell["layer"], int(cell["filter"]), int(cell["row"]), int(cell["col"])
    assert layer == "conv"
    want = _value(fm, layer, f, r, c)
    assert _close3(float(cell["value"]), want), (cell, want)
    readout = p.root.locator(".fmw-readout").inner_text()
    assert f"filter {f} · row {r} · col {c}" in readout
    hover = p.page.wait_for_function("() => window.__fmwStatic.get('hover')").json_value()
    assert (hover["layer"], hover["filter"], hover["row"], hover["col"]) == (layer, f, r, c)
    _no_network(p)
    assert p.page_errors == []


def test_export_from_file_url(open_export: Any, tiny_export: Any) -> None:
    """Opened from file:// as a user would: painted, hover and a clicked trace, no requests."""
    widget, path = tiny_export
    p = open_export(path, from_file=True)
    assert p.page.url.startswith("file:///")
    assert_painted(p.page, timeout=10_000)
    cell = hover_and_trace(p.page, p.root)
    assert _close3(cell["value"], _value(widget.fm, cell["layer"], *_where(cell)))
    # no kernel: the page's own model holds what Python would have received
    state = {k: p.get(k) for k in ("hover", "trace_target", "selected_filters")}
    assert python_matches(state, cell), (state, cell)
    _no_network(p)
    assert p.page_errors == []


def _where(cell: dict[str, Any]) -> tuple[int, int, int]:
    return cell["filter"], cell["row"], cell["col"]


def test_switch_layer_and_trace_a_clicked_pool_cell(open_export: Any, tiny_export: Any) -> None:
    widget, path = tiny_export
    fm = widget.fm
    p = open_export(path)
    p.ready()
    pool_tab = p.root.locator(".fmw-layer[data-index='2']")
    pool_tab.click()
    p.page.wait_for_function("() => window.__fmwStatic.get('layer') === 'pool'")
    assert pool_tab.get_attribute("aria-selected") == "true"
    p.page.wait_for_function(
        "() => document.querySelector('.fmw-info')?.textContent.includes('13\u00d713')"
    )
    cell = hover_grid(p.page, p.root)
    layer, f, r, c = cell["layer"], int(cell["filter"]), int(cell["row"]), int(cell["col"])
    assert layer == "pool"
    assert _close3(float(cell["value"]), _value(fm, "pool", f, r, c))

    p.page.mouse.down()  # click where the pointer is: select the filter, trace the cell
    p.page.mouse.up()
    target = p.page.wait_for_function("() => window.__fmwStatic.get('trace_target')")
    assert target.json_value() == {"layer": "pool", "filter": f, "row": r, "col": c}
    assert p.get("selected_filters") == [f]
    steps = p.root.locator(".fmw-trace-step")
    steps.nth(2).wait_for()
    assert steps.count() == 3
    wr, wc = fm.pool_source("pool", (r, c), f)
    assert f"winner ({wr}, {wc})" in steps.nth(2).inner_text()
    # the chain's conv cell is the winner, with the conv's value there
    assert f"({wr}, {wc})" in steps.nth(0).inner_text()
    assert p.root.locator(".fmw-detail-item").count() == 1
    _no_network(p)
    assert p.page_errors == []


def test_clicking_a_cell_that_lost_its_window_offline(open_export: Any, tiny_export: Any) -> None:
    """As in the notebook: the chain shows the winner, the clicked cell is said and marked."""
    from fmwidget.trace import trace

    widget, path = tiny_export
    fm = widget.fm
    p = open_export(path)
    p.ready()
    f, r, c = click_a_losing_cell(p.page, p.root, fm, "pool")
    p.page.mouse.move(0, 0)
    target = p.page.wait_for_function("() => window.__fmwStatic.get('trace_target')")
    assert target.json_value() == {"layer": "conv", "filter": f, "row": r, "col": c}
    want = trace(fm, "conv", f, (r, c))
    wr, wc = fm.pool_source("pool", (r // 2, c // 2), f)
    note = p.root.locator(".fmw-trace-note")
    note.wait_for()
    assert note.inner_text() == want["note"]
    assert note.inner_text().startswith(
        f"You clicked ({r}, {c}) of conv; the max of its pool window came from ({wr}, {wc})"
    )
    steps = p.root.locator(".fmw-trace-step")
    assert steps.count() == 3
    values = []
    for k, step in enumerate(want["steps"]):
        text = steps.nth(k).inner_text()
        assert f"filter {f} · ({step['row']}, {step['col']})" in text
        line = next(t for t in text.splitlines() if t.startswith("value"))
        values.append(float(line.split()[-1].replace("\u2212", "-")))
        assert _close3(values[-1], step["value"]), (k, values[-1], step)
    assert values[1] == values[2]  # the ReLU at the winner is the pooled value
    assert [steps.nth(k).get_attribute("data-clicked") for k in range(3)] == [
        "elsewhere",
        "elsewhere",
        None,
    ]
    mark = steps.nth(1).locator(".fmw-trace-clicked").inner_text()
    assert mark.startswith(f"you clicked ({r}, {c}) = ")
    got = float(mark.split()[-1].replace("\u2212", "-"))
    assert _close3(got, _value(fm, "conv", f, r, c)) and got < values[2]
    mini = steps.nth(1).locator("canvas.fmw-trace-map")
    p.page.wait_for_function("(c) => c.width > 0", arg=mini.element_handle())
    assert count_color(mini, (0x7C, 0xFF, 0x4F)) >= 2
    _no_network(p)
    assert p.page_errors == []


# The cases of a trace's words: the winner elsewhere (in one window, or in none of several),
# won among several windows, a tie, no window (valid pooling drops edges), average pooling.
NOTE_KINDS = (
    "the max of its",
    "is the max of none",
    "is the max of pooled cell",
    "hold the same value",
    "no window of",
    "averages its window",
)


def _trace_cells(fm: Any, per_layer: int = 40) -> list[dict[str, Any]]:
    rng = random.Random(5)
    cells = []
    for info in fm.layers:
        if info.spatial_shape is None:
            continue
        h, w = info.spatial_shape
        every = [(f, r, c) for f in range(info.channels) for r in range(h) for c in range(w)]
        pick = every if info.kind == "pooling" else rng.sample(every, min(per_layer, len(every)))
        cells += [{"layer": info.name, "filter": f, "row": r, "col": c} for f, r, c in pick]
    return cells


def test_static_traces_equal_python(open_export: Any, pools_export: Any) -> None:
    """Every pooled cell and a sample of all others: chain, windows, winners, fields exact."""
    from fmwidget.trace import trace

    widget, path = pools_export
    fm = widget.fm
    p = open_export(path)
    p.ready()
    cells = _trace_cells(fm)
    got = p.page.evaluate(
        """async (cells) => {
            const out = [];
            for (const c of cells) {
                try { out.push(await window.__fmwStatic.trace(c)); }
                catch (e) { out.push({error: String(e)}); }
            }
            return out;
        }""",
        cells,
    )
    peaks = {i.name: float(np.abs(fm[i.name]).max()) for i in fm.layers if i.spatial}
    n_steps = 0
    notes: collections.Counter[str] = collections.Counter()
    for cell, js in zip(cells, got, strict=True):
        want = trace(fm, cell["layer"], cell["filter"], (cell["row"], cell["col"]))
        assert "error" not in js, (cell, js)
        assert js["conv"] is None and js["layer"] == cell["layer"]
        assert js["receptive_field"] == want["receptive_field"], cell
        assert js["note"] == want["note"], cell  # the same words (ties from exact bits)
        clicked_js, clicked_py = js.pop("clicked"), want.pop("clicked")
        assert _close3(clicked_js.pop("value"), clicked_py.pop("value"), peaks[cell["layer"]])
        assert clicked_js == clicked_py, cell
        note = want["note"] or ""
        notes.update(k for k in NOTE_KINDS if k in note)
        assert len(js["steps"]) == len(want["steps"]), (cell, js["steps"], want["steps"])
        for s_js, s_py in zip(js["steps"], want["steps"], strict=True):
            value_js, value_py = s_js.pop("value"), s_py.pop("value")
            assert s_js == s_py, cell
            assert _close3(value_js, value_py, peaks[s_py["layer"]]), (cell, s_py, value_js)
            n_steps += 1
    assert n_steps > 1000
    assert set(notes) == set(NOTE_KINDS), notes  # every case of the words came up
    # a malformed request gets the kernel's kind of answer: an error message, not a crash
    bad = p.page.evaluate(
        "() => window.__fmwStatic.answer({type: 'get_trace', layer: 'p1', filter: 99,"
        " row: 0, col: 0, request_id: 7})"
    )
    assert bad[0]["type"] == "error" and bad[0]["request_id"] == 7
    assert "filter in range(0, 5)" in bad[0]["message"]
    _no_network(p)
    assert p.page_errors == []


def test_client_side_controls_work_offline(open_export: Any, pools_export: Any) -> None:
    widget, path = pools_export
    fm = widget.fm
    p = open_export(path)
    p.ready()
    assert p.get("layer") == "c1"
    # colour range modes, sorting: repaint with no kernel
    before = canvas_summary(p.root.locator(".fmw-grid"))
    p.root.locator(".fmw-range").select_option("map")
    p.page.wait_for_function("() => window.__fmwStatic.get('colormap_range') === 'map'")
    after = canvas_summary(p.root.locator(".fmw-grid"))
    assert after["colors"] >= 16 and after != before
    p.root.locator(".fmw-sort").select_option(index=1)
    assert canvas_summary(p.root.locator(".fmw-grid"))["colors"] >= 16
    # keyboard: focus the grid, move, select with Enter
    p.root.locator(".fmw-gridwrap").focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowDown", "]"):
        p.page.keyboard.press(key)
    readout = p.root.locator(".fmw-readout[data-value]")
    readout.wait_for(state="attached")
    ds = readout.evaluate("(el) => ({...el.dataset})")
    f, r, c = int(ds["filter"]), int(ds["row"]), int(ds["col"])
    assert (r, c) == (1, 1)
    assert _close3(float(ds["value"]), _value(fm, "c1", f, r, c))
    p.page.keyboard.press("Enter")
    p.page.wait_for_function("() => window.__fmwStatic.get('selected_filters').length === 1")
    assert p.get("selected_filters") == [f]
    # the fused activation's pre-activation map is embedded too
    p.root.locator(".fmw-pre").check()
    p.page.wait_for_function(
        "() => document.querySelector('.fmw-readout')?.textContent.includes('pre-activation')"
    )
    ds = readout.evaluate("(el) => ({...el.dataset})")
    assert (int(ds["filter"]), int(ds["row"]), int(ds["col"])) == (f, r, c)
    assert _close3(float(ds["value"]), _value(fm, "c1", f, r, c, pre=True))
    _no_network(p)
    assert p.page_errors == []


def test_hostile_layer_name_is_text(
    open_export: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from fmwidget import FeatureMapWidget

    model, x = tiny_cnn_and_input(name=HOSTILE, conv_name=HOSTILE)
    path = (
        FeatureMapWidget(model, x, view="grid")
        .save_html(tmp_path_factory.mktemp("h") / "h.html")
        .path
    )
    p = open_export(path)
    ready = p.ready()
    assert HOSTILE in ready.inner_text()
    assert HOSTILE in p.root.locator(".fmw-layer[data-index='1']").inner_text()
    assert HOSTILE in p.page.title()
    assert_no_script_ran(p.page, p.root, p.page_errors)


def test_export_opens_on_the_overview_and_links_cells_offline(
    open_export: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The export has no kernel to ask for thumbnails: the page reduces the embedded maps."""
    from fmwidget import FeatureMapWidget

    model, x = tiny_cnn_and_input()
    w = FeatureMapWidget(model, x)  # the default view: the network
    path = w.save_html(tmp_path_factory.mktemp("ov") / "overview.html").path
    p = open_export(path)
    p.ready()
    p.page.wait_for_selector('.fmw-overview[data-pending="0"]')
    names = p.root.locator(".fmw-ov-col").evaluate_all("(bs) => bs.map((b) => b.dataset.layer)")
    assert names == ["input", "conv", "pool"]
    rect = p.page.evaluate(
        "() => document.querySelector('.fmw-overview').fmwOverview.clientRect('pool', 1)"
    )
    p.page.mouse.move(rect["x"] + rect["w"] * 4.5 / 13, rect["y"] + rect["h"] * 9.5 / 13)
    readout = p.root.locator(".fmw-ov-readout[data-layer='pool']")
    readout.wait_for()
    assert (readout.get_attribute("data-row"), readout.get_attribute("data-col")) == ("9", "4")
    assert _close3(float(readout.get_attribute("data-value")), float(w.fm["pool"][0, 9, 4, 1]))
    rf = w.fm.receptive_field("pool", (9, 4))
    fields = json.loads(readout.get_attribute("data-fields"))
    assert fields["reads"]["input"]["box"] == [rf[0].start, rf[0].stop, rf[1].start, rf[1].stop]
    assert fields["reads"]["conv"] == {"box": [18, 20, 8, 10], "ch": [1]}
    _no_network(p)
    assert p.page_errors == []
