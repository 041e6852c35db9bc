"""What every notebook host must do with the widget, and how to start the hosts.

The contract (``assert_painted``, ``hover_and_trace``, ``wait_for_python``): the widget is
styled and its canvases hold pixels; hovering a map shows a cell in the read-out; clicking it
selects the filter and shows its trace; and where there is a kernel, the hover, the trace target
and the selection reach the Python object. Each host reads the Python side its own way: a
read-back cell (JupyterLab), an ipywidgets Label the kernel updates (Notebook 7, Voila), a
later cell that marimo re-runs when the widget's value changes (marimo).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from .helpers import TINY_CNN_SOURCE, keras_env
from .lab import LabServer, start_server
from .probes import GRID_POINTS, READOUT, canvas_summary

READY = '.fmw-root[data-ready="1"]'
WATCHED = ("hover", "trace_target", "selected_filters")

# A Jupyter notebook cell: the widget, and a Label the kernel rewrites whenever one of the
# watched traits changes (so the page shows what Python holds, with no cell running).
JUPYTER_CELL = f"""from fmw_tiny import *
import ipywidgets
w = fmwidget.FeatureMapWidget(tiny_cnn(), ring_image(), view="grid")
echo = ipywidgets.Label()
echo.add_class("fmw-echo")
def show_python_side(change=None):
    echo.value = json.dumps({{k: getattr(w, k) for k in {WATCHED!r}}})
w.observe(show_python_side, names={list(WATCHED)!r})
show_python_side()
display(w, echo)"""

# A marimo app: the wrapped widget, and a cell marimo re-runs when the widget's value changes;
# it shows both marimo's value and the FeatureMapWidget's own traits.
MARIMO_APP = f"""import marimo

app = marimo.App()


@app.cell
def _():
    import json

    import marimo as mo
    from fmw_tiny import fmwidget, ring_image, tiny_cnn

    w = mo.ui.anywidget(fmwidget.FeatureMapWidget(tiny_cnn(), ring_image(), view="grid"))
    w
    return json, mo, w


@app.cell
def _(json, mo, w):
    _seen = {{k: getattr(w.widget, k) for k in {WATCHED!r}}}
    _value = {{k: w.value.get(k) for k in {WATCHED!r}}}
    mo.plain_text("FMW " + json.dumps({{"widget": _seen, "value": _value}}))
    return


if __name__ == "__main__":
    app.run()
"""
MARIMO_ECHO = re.compile(r"^FMW ")


# -- the contract -----------------------------------------------------------------------------
def assert_painted(scope: Any, timeout: float = 90_000) -> Any:
    """Waits for the widget in ``scope``; asserts it is styled and its canvases hold pixels.

    "Styled" is checked where it failed in marimo's shadow root: the grid's overlay canvas
    lies exactly on the grid, and the layer strip is a flex row.
    """
    root = scope.locator(READY).first
    root.wait_for(state="visible", timeout=timeout)
    layout = root.evaluate(
        """(r) => {
            const box = (el) => {
                const b = el.getBoundingClientRect();
                return [b.x, b.y, b.width, b.height].map(Math.round);
            };
            const grid = r.querySelector('.fmw-grid');
            return {grid: box(grid), overlay: box(grid.nextElementSibling),
                    strip: getComputedStyle(r.querySelector('.fmw-strip')).display};
        }"""
    )
    assert layout["overlay"] == layout["grid"] and layout["strip"] == "flex", layout
    assert root.locator(".fmw-error").inner_text() == ""
    grid = canvas_summary(root.locator(".fmw-grid"))
    assert grid["colors"] >= 16 and grid["opaque"] > 0.5, grid
    image = canvas_summary(root.locator(".fmw-input"))
    assert image["colors"] >= 16 and image["opaque"] > 0.5, image
    return root


def hover_and_trace(page: Any, scope: Any) -> dict[str, Any]:
    """Clicks a grid cell (hovering it on the way) and waits for its trace; returns the cell.

    The click is placed by Playwright at click time (a host may shift the page between a
    hover and a later click, as marimo's editor does); points that fall in the gap between
    two maps show no read-out and the next one is tried.
    """
    grid = scope.locator(".fmw-grid").first
    readout = scope.locator(READOUT).first
    for fx, fy in GRID_POINTS:
        box = grid.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, f"grid has no size: {box}"
        grid.click(position={"x": fx * box["width"], "y": fy * box["height"]})
        try:
            readout.wait_for(state="attached", timeout=1_500)
        except Exception:  # playwright TimeoutError: between two maps, try the next point
            continue
        ds = readout.evaluate("(el) => ({...el.dataset})")
        cell = {
            "layer": ds["layer"],
            "filter": int(ds["filter"]),
            "row": int(ds["row"]),
            "col": int(ds["col"]),
            "value": float(ds["value"]),
        }
        # The chain shows the clicked cell, or (when it lost its max-pool window) the
        # winner, with the clicked cell named on the card: "you clicked (r, c)".
        at = rf"\({cell['row']}, {cell['col']}\)"
        step = scope.locator(".fmw-trace-step").filter(
            has_text=re.compile(rf"filter {cell['filter']} · {at}|you clicked {at}")
        )
        step.first.wait_for(state="visible", timeout=30_000)
        return cell
    raise AssertionError(f"no read-out after clicking {len(GRID_POINTS)} grid points")


def python_matches(state: dict[str, Any] | None, cell: dict[str, Any]) -> bool:
    """Whether the Python-side traits hold the hovered and clicked ``cell``."""
    if not state:
        return False
    hover, target = state.get("hover"), state.get("trace_target")
    where = (cell["layer"], cell["filter"], cell["row"], cell["col"])
    return (
        hover is not None
        and (hover["layer"], hover["filter"], hover["row"], hover["col"]) == where
        and math.isclose(hover["value"], cell["value"], rel_tol=1e-6, abs_tol=1e-9)
        and target == dict(zip(("layer", "filter", "row", "col"), where, strict=True))
        and state.get("selected_filters") == [cell["filter"]]
    )


def wait_for_python(
    page: Any, read: Callable[[], dict[str, Any] | None], cell: dict[str, Any], timeout: float = 30
) -> dict[str, Any]:
    """Polls ``read()`` (the traits as Python holds them) until they show ``cell``.

    Waits with ``page.wait_for_timeout``: a ``time.sleep`` would also stall the page, whose
    every request goes through the Python-side network guard.
    """
    deadline = time.monotonic() + timeout
    state = read()
    while not python_matches(state, cell):
        if time.monotonic() > deadline:
            raise AssertionError(f"Python never saw {cell}; it holds {state}")
        page.wait_for_timeout(200)
        state = read()
    return state


def label_json(scope: Any, selector: str) -> Callable[[], dict[str, Any] | None]:
    """``read`` for ``wait_for_python``: the JSON text of the first element at ``selector``."""

    def read() -> dict[str, Any] | None:
        el = scope.locator(selector).first
        return json.loads(el.inner_text()) if el.count() else None

    return read


# -- marimo -----------------------------------------------------------------------------------
def marimo_echo(page: Any, source: str = "widget") -> dict[str, Any] | None:
    """The traits the marimo app's second cell shows (``widget``: the FeatureMapWidget's)."""
    el = page.get_by_text(MARIMO_ECHO)
    if el.count() == 0:
        return None
    return json.loads(el.first.inner_text()[len("FMW ") :])[source]


def start_marimo(mode: str, base: pathlib.Path, keras_home: pathlib.Path) -> LabServer:
    """``marimo run`` or ``marimo edit`` of ``MARIMO_APP`` on 127.0.0.1, without a token."""
    root = base / f"marimo-{mode}"
    root.mkdir()
    (root / "fmw_tiny.py").write_text(TINY_CNN_SOURCE)
    (root / "app.py").write_text(MARIMO_APP)
    env = dict(os.environ)
    env.update(keras_env(keras_home))
    env["PYTHONPATH"] = os.pathsep.join([str(root), env["PYTHONPATH"]])
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        env[var] = str(base / f"xdg-{mode}" / var.lower())  # no user config, nothing left behind
    env["PYTHONUNBUFFERED"] = "1"
    extra = ["--skip-update-check"] if mode == "edit" else []  # `run` has no such option

    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "marimo", "-y", mode, "app.py", "--headless",
            "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-sandbox", *extra,
        ]  # fmt: skip

    return start_server(f"marimo-{mode}", command, env, base, root, "", "health", timeout=90)
