"""fmwidget in a real JupyterLab 4 with a real kernel (one server and one notebook per module)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from .helpers import TINY_CNN_SOURCE
from .hosts import WATCHED, assert_painted, hover_and_trace, wait_for_python
from .lab import LabNotebook, open_lab_notebook
from .probes import hover_grid

pytestmark = [pytest.mark.browser, pytest.mark.jupyterlab]

# fmw_tiny.py (next to the notebook) holds the model code shared with the harness tests.
# 0: build the model and show the widget; record every hover the kernel receives.
# 1: read traits back.  2: read the hover back.  3: set_input (status reported per layer).
# 4: the traits the host contract watches (hosts.py), as the kernel holds them.
# 5: a second widget in the default view (the overview).  6: read its traits back.
# 7: a third widget comparing its input with the input shifted.  8: its comparison.
# 9: trace a cell of w2 from Python (the step-through's own set-up).
# 10: w's input as the kernel holds it (after a pen stroke in the browser).
CELLS = [
    """from fmw_tiny import *
model = tiny_cnn()
w = fmwidget.FeatureMapWidget(model, ring_image(), view="grid")
hovers = []
w.observe(lambda change: hovers.append(change["new"]), names="hover")
w""",
    "print(w.model_name, len(w.layers))",
    """seen = [h for h in hovers if h]
print(json.dumps({"hover": w.hover, "last": seen[-1] if seen else None}))""",
    """fmwidget.widget.STATUS_INTERVAL_S = 0.0  # every layer call reported
w.set_input(ring_image() * 0.5)
print(json.dumps({"status": w.status, "version": w.data_version}))""",
    f"print(json.dumps({{k: getattr(w, k) for k in {WATCHED!r}}}))",
    "w2 = fmwidget.FeatureMapWidget(model, ring_image())  # the default view: the network\nw2",
    'print(json.dumps({"view": w2.view, "layer": w2.layer, "target": w2.trace_target}))',
    """w3 = fmwidget.FeatureMapWidget(model, ring_image(), view="grid")
w3.compare(shift=(0, 1))
w3""",
    'print(json.dumps({"shift": w3.comparison["shift"], "view": w3.view}))',
    """w2.view = "grid"
w2.layer = "conv"
w2.trace_target = {"layer": "conv", "filter": 2, "row": 20, "col": 10}""",
    """x = w.input_array
row = x[14, 8:20, 0].tolist()
print(json.dumps({"version": w.data_version, "max": float(x.max()), "row": row}))""",
]
READY = '.fmw-root[data-ready="1"]'


@pytest.fixture(scope="module")
def lab(browser: Any, jupyterlab: Any) -> Iterator[LabNotebook]:
    """tiny.ipynb open in Lab with cell 0 (model + widget) already run."""
    (jupyterlab.root_dir / "fmw_tiny.py").write_text(TINY_CNN_SOURCE)
    with open_lab_notebook(browser, jupyterlab, "tiny.ipynb", CELLS) as nb:
        yield nb


@pytest.fixture(autouse=True)
def _artifacts_on_failure(lab: LabNotebook, keep_artifacts: Any) -> Iterator[None]:
    yield
    keep_artifacts(lab.page)


def test_widget_renders_in_cell_output(lab: LabNotebook) -> None:
    ready = lab.outputs(0).locator(READY)
    ready.wait_for(state="visible", timeout=60_000)
    assert "tiny_cnn" in ready.inner_text()
    assert ready.locator(".fmw-error").inner_text() == ""
    assert ready.locator(".fmw-grid").count() == 1


def test_kernel_side_traits(lab: LabNotebook) -> None:
    # input, conv, pool
    assert lab.run_cell(1).strip() == "tiny_cnn 3"


def test_hover_reaches_kernel(lab: LabNotebook) -> None:
    out = lab.outputs(0)
    out.locator(READY).wait_for(state="visible", timeout=60_000)

    cell = hover_grid(lab.page, out)
    seen = (cell["layer"], int(cell["filter"]), int(cell["row"]), int(cell["col"]))
    assert seen[0] == "conv"
    # The kernel handles comm messages only between cells, and hover sync may be throttled:
    # run the read-back cell without moving the mouse, a few times if need be.
    got: dict[str, Any] = {}
    for _ in range(5):
        got = lab.run_json(2, mouse=False)
        if got["last"] is not None:
            break
        lab.page.wait_for_timeout(300)
    last, now = got["last"], got["hover"]
    assert last is not None, f"the kernel never received a hover (w.hover={now!r})"
    assert (last["layer"], last["filter"], last["row"], last["col"]) == seen
    assert math.isclose(last["value"], float(cell["value"]), rel_tol=1e-6, abs_tol=1e-9)
    # The pointer never left the grid, so w.hover is still that cell.
    assert now == last, (now, last)


def test_click_traces_and_reaches_kernel(lab: LabNotebook) -> None:
    """The contract every host meets (hosts.py): painted, hover + click + trace reach Python."""
    out = lab.outputs(0)
    assert_painted(out)
    cell = hover_and_trace(lab.page, out)
    wait_for_python(lab.page, lambda: lab.run_json(4, mouse=False), cell)


RECORD_STATUS = """(root) => {
    const el = root.querySelector('.fmw-status');
    window.__fmwStatus = [];
    // textContent replaces the text node: each added node keeps the text shown then
    new MutationObserver((records) => {
        for (const r of records)
            for (const n of r.addedNodes) window.__fmwStatus.push(n.textContent);
    }).observe(el, {childList: true});
}"""


def test_status_shows_while_set_input_runs(lab: LabNotebook) -> None:
    out = lab.outputs(0)
    out.locator(READY).wait_for(state="visible", timeout=60_000)
    status = out.locator(".fmw-status")
    assert status.evaluate("(el) => el.hidden")
    out.locator(".fmw-root").evaluate(RECORD_STATUS)
    got = lab.run_json(3, mouse=False)
    assert got["status"] is None
    lab.page.wait_for_function(
        "(v) => window.__fmwStatus.length > 0 && document.querySelector('.fmw-status').hidden",
        timeout=10_000,
    )
    texts = lab.page.evaluate("() => window.__fmwStatus")
    # the kernel's comm messages arrive while the cell runs: every step was on screen
    assert texts[:3] == [
        "running the model… layer 0 of 2",
        "running the model… layer 1 of 2",
        "running the model… layer 2 of 2",
    ], texts
    assert "summarising layers… 0 of 3" in texts
    assert status.evaluate("(el) => el.hidden && el.textContent === ''")


def test_overview_in_lab_links_cells_and_a_click_reaches_the_kernel(lab: LabNotebook) -> None:
    lab.run_cell(5, timeout=120_000)
    out = lab.outputs(5)
    out.locator('.fmw-overview[data-pending="0"]').wait_for(state="visible", timeout=60_000)
    names = out.locator(".fmw-ov-col").evaluate_all("(bs) => bs.map((b) => b.dataset.layer)")
    assert names == ["input", "conv", "pool"]
    view = out.locator(".fmw-overview")
    rect = view.evaluate("(el) => el.fmwOverview.clientRect('conv', 2)")
    x, y = rect["x"] + rect["w"] * 10.5 / 26, rect["y"] + rect["h"] * 20.5 / 26
    lab.page.mouse.move(x, y)
    readout = out.locator(".fmw-ov-readout[data-layer='conv']")
    readout.wait_for()
    assert (readout.get_attribute("data-row"), readout.get_attribute("data-col")) == ("20", "10")
    fields = json.loads(readout.get_attribute("data-fields"))
    assert fields["reads"]["input"]["box"] == [20, 23, 10, 13]  # a 3x3 valid conv
    assert fields["readBy"]["pool"] == {"box": [10, 11, 5, 6], "ch": [2]}
    lab.page.mouse.click(x, y)  # opens the grid on that cell, traced
    out.locator(".fmw-trace-step").last.wait_for(timeout=60_000)
    got = lab.run_json(6, mouse=False)
    assert got == {
        "view": "grid",
        "layer": "conv",
        "target": {"layer": "conv", "filter": 2, "row": 20, "col": 10},
    }


def test_step_through_in_lab(lab: LabNotebook) -> None:
    """A trace set from Python (a fresh overview widget, cell 5) plays its step-through."""
    lab.run_cell(5, timeout=120_000)
    out = lab.outputs(5)
    out.locator('.fmw-overview[data-pending="0"]').wait_for(state="visible", timeout=60_000)
    lab.run_cell(9, timeout=60_000)
    stepper = out.locator(".fmw-stepper")
    stepper.wait_for(timeout=60_000)
    assert out.locator(".fmw-root").get_attribute("data-view") == "grid"
    n = int(stepper.get_attribute("data-frames"))
    assert n >= 3
    stepper.locator(".fmw-step-speed").select_option("4")
    stepper.locator(".fmw-step-play").click()
    lab.page.wait_for_function(
        "(el) => el.dataset.playing === '0' && el.dataset.frame === String(el.dataset.frames - 1)",
        arg=stepper.element_handle(),
        timeout=20_000,
    )


def test_compare_in_lab(lab: LabNotebook) -> None:
    """compare(shift=...) from Python, then a new shift from the browser, with a real kernel."""
    lab.run_cell(7, timeout=120_000)
    out = lab.outputs(7)
    cmp = out.locator('.fmw-compare[data-state="ready"]')
    cmp.wait_for(timeout=60_000)
    assert cmp.locator(".fmw-cmp-row").count() == 3
    cmp.locator('.fmw-cmp-row[data-layer="conv"]').click()
    cmp.locator('.fmw-cmp-maps[data-layer="conv"] canvas.fmw-cmp-diff').first.wait_for()
    version = int(cmp.get_attribute("data-version"))
    cmp.locator(".fmw-cmp-dy").fill("1")
    cmp.locator(".fmw-cmp-dx").fill("0")
    cmp.locator(".fmw-cmp-go").click()  # the kernel recomputes: a new comparison arrives
    lab.page.wait_for_function(
        "([el, v]) => Number(el.dataset.version) > v",
        arg=[cmp.element_handle(), version],
        timeout=60_000,
    )
    assert lab.run_json(8, mouse=False) == {"shift": [1, 0], "view": "compare"}


GRID_DIGEST = """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0; return h; }"""


def test_pen_stroke_reaches_the_kernel_and_the_maps_repaint(lab: LabNotebook) -> None:
    """A stroke on the input image: real comm with a binary buffer, the kernel runs it."""
    out = lab.outputs(0)
    out.locator(READY).wait_for(state="visible", timeout=60_000)
    out.locator('.fmw-stack[data-pen="draw"]').wait_for()
    before = lab.run_json(10, mouse=False)
    grid = out.locator("canvas.fmw-grid")
    digest = grid.evaluate(GRID_DIGEST)
    canvas = out.locator("canvas.fmw-input")
    canvas.scroll_into_view_if_needed()  # running cell 10 scrolled the notebook down
    box = canvas.bounding_box()
    cell = box["width"] / 28
    lab.page.mouse.move(box["x"] + 6.5 * cell, box["y"] + 14.5 * cell)
    lab.page.mouse.down()
    lab.page.mouse.move(box["x"] + 21.5 * cell, box["y"] + 14.5 * cell, steps=8)
    lab.page.mouse.up()
    lab.page.wait_for_function(  # the maps of the drawn input are painted
        f"([c, d]) => ({GRID_DIGEST})(c) !== d",
        arg=[grid.element_handle(), digest],
        timeout=30_000,
    )
    after = lab.run_json(10, mouse=False)
    assert after["version"] == before["version"] + 1
    # the stroke is white ink: the top of the input's range, all along the row
    assert after["row"] == [after["max"]] * 12, after
    assert after["row"] != before["row"]
