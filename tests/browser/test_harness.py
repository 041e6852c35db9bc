"""The real bundle in a plain page against a fake anywidget model fed with real Keras maps."""

from __future__ import annotations

import math
from typing import Any

import pytest

from .helpers import HOSTILE, tiny_cnn_and_input
from .probes import (
    assert_no_script_ran,
    canvas_summary,
    click_a_losing_cell,
    count_color,
    hover_grid,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_widget(tiny_maps: Any) -> Any:
    """A real FeatureMapWidget (no kernel: the harness plays the comm)."""
    from fmwidget import FeatureMapWidget

    model, x, _ = tiny_maps
    return FeatureMapWidget(model, x, view="grid")


@pytest.fixture(scope="module")
def hostile_widget() -> Any:
    """A real model whose own name and conv layer name are HTML that would run script."""
    from fmwidget import FeatureMapWidget

    model, x = tiny_cnn_and_input(name=HOSTILE, conv_name=HOSTILE)
    return FeatureMapWidget(model, x, view="grid")


def test_bundle_renders_model_name(harness_page: Any, tiny_widget: Any) -> None:
    harness_page.mount_widget(tiny_widget)
    ready = harness_page.ready()
    assert "tiny_cnn" in ready.inner_text()
    assert ready.locator(".fmw-error").inner_text() == ""
    assert harness_page.page_errors == []
    # The view asked the "kernel" for the shown layer, and every request was answered.
    requests = harness_page.kernel.requests
    assert any(q.get("type") == "get_layer" and q.get("layer") == "conv" for q in requests)
    assert harness_page.page.evaluate("() => window.__fmwResponderErrors ?? 0") == 0
    # Once ready, the 4 conv maps (26x26) and the 28x28 input are painted, not blank.
    grid = canvas_summary(ready.locator(".fmw-grid"))
    assert grid["width"] >= 26 * 2 and grid["height"] >= 26, grid
    assert grid["colors"] >= 16 and grid["opaque"] > 0.5, grid
    image = canvas_summary(ready.locator(".fmw-input"))
    assert image["colors"] >= 16 and image["opaque"] > 0.5, image


def test_hostile_model_name_is_text(harness_page: Any, hostile_widget: Any) -> None:
    harness_page.mount_widget(hostile_widget)
    ready = harness_page.ready()
    assert HOSTILE in ready.inner_text()
    assert_no_script_ran(harness_page.page, harness_page.root, harness_page.page_errors)


def test_hostile_layer_name_is_text(harness_page: Any, hostile_widget: Any) -> None:
    harness_page.mount_widget(hostile_widget, model_name="plain_model")
    harness_page.ready()
    assert_no_script_ran(harness_page.page, harness_page.root, harness_page.page_errors)
    conv = harness_page.root.locator(".fmw-layer[data-index='1']")
    assert HOSTILE in conv.inner_text()
    assert_no_script_ran(harness_page.page, harness_page.root, harness_page.page_errors)


def test_hover_shows_real_value_and_sets_trait(harness_page: Any, tiny_widget: Any) -> None:
    fm = tiny_widget.fm
    harness_page.mount_widget(tiny_widget)
    harness_page.ready()

    cell = hover_grid(harness_page.page, harness_page.root)
    layer, f, r, c = cell["layer"], int(cell["filter"]), int(cell["row"]), int(cell["col"])
    assert layer == harness_page.get("layer") == "conv"
    expected = float(fm[layer][0, r, c, f])  # channels_last (batch, H, W, C)
    assert math.isclose(float(cell["value"]), expected, rel_tol=2e-3, abs_tol=1e-6), (
        cell,
        expected,
    )
    requests = harness_page.kernel.requests
    assert any(q.get("type") == "get_layer" and q.get("layer") == "conv" for q in requests)

    hover = harness_page.wait_for_trait("hover")  # the view throttles hover syncs
    assert (hover["layer"], hover["filter"], hover["row"], hover["col"]) == (layer, f, r, c)
    assert math.isclose(hover["value"], expected, rel_tol=2e-3, abs_tol=1e-6)
    assert harness_page.saves() > 0, "hover must be saved to the kernel (save_changes)"
    assert harness_page.page_errors == []


def _number(text: str) -> float:
    return float(text.split()[-1].replace("\u2212", "-"))


def test_trace_panel_shows_the_kernels_float32_values(harness_page: Any, tiny_widget: Any) -> None:
    """Setting trace_target (as notebook code would) shows the chain with Keras's numbers."""
    from fmwidget.trace import trace

    harness_page.mount_widget(tiny_widget)
    harness_page.ready()
    harness_page.kernel_set("trace_target", {"layer": "pool", "filter": 2, "row": 5, "col": 7})
    steps = harness_page.root.locator(".fmw-trace-step")
    steps.nth(2).wait_for()
    want = trace(tiny_widget.fm, "pool", 2, (5, 7))["steps"]
    assert steps.count() == len(want) == 3
    for k, step in enumerate(want):
        card = steps.nth(k)
        assert card.get_attribute("data-layer") == step["layer"]
        text = card.inner_text()
        assert f"({step['row']}, {step['col']})" in text
        value_line = next(line for line in text.splitlines() if line.startswith("value"))
        assert math.isclose(_number(value_line), step["value"], rel_tol=5e-3, abs_tol=1e-9)
    winner = want[2]["argmax"]
    assert f"winner ({winner['row']}, {winner['col']})" in steps.nth(2).inner_text()
    # the conv arithmetic's total is the pre-activation value, to 3 significant digits
    total = harness_page.root.locator(".fmw-conv .fmw-total .fmw-num").inner_text()
    assert math.isclose(_number(total), want[0]["value"], rel_tol=5e-3, abs_tol=1e-9)
    assert harness_page.page_errors == []


def test_clicking_a_cell_that_lost_its_pool_window_shows_the_winner(
    harness_page: Any, tiny_widget: Any
) -> None:
    """The chain follows the cell that fed the pooled value; the click is marked and said."""
    from fmwidget.trace import trace

    fm = tiny_widget.fm
    harness_page.mount_widget(tiny_widget)
    harness_page.ready()
    f, r, c = click_a_losing_cell(harness_page.page, harness_page.root, fm, "pool")
    harness_page.page.mouse.move(0, 0)  # no hover outline over the marks checked below
    target = harness_page.wait_for_trait("trace_target")
    assert target == {"layer": "conv", "filter": f, "row": r, "col": c}
    want = trace(fm, "conv", f, (r, c))
    wr, wc = fm.pool_source("pool", (r // 2, c // 2), f)
    note = harness_page.root.locator(".fmw-trace-note")
    note.wait_for()
    assert note.inner_text() == want["note"]
    assert note.inner_text() == (
        f"You clicked ({r}, {c}) of conv; the max of its pool window came from ({wr}, {wc}), "
        f"so the steps before pool show ({wr}, {wc}), the cell that fed the pooled value."
    )
    steps = harness_page.root.locator(".fmw-trace-step")
    assert steps.count() == 3
    shown = []
    for k, step in enumerate(want["steps"]):
        card = steps.nth(k)
        text = card.inner_text()
        assert f"filter {f} · ({step['row']}, {step['col']})" in text
        value_line = next(line for line in text.splitlines() if line.startswith("value"))
        shown.append(_number(value_line))
        assert math.isclose(shown[-1], step["value"], rel_tol=5e-3, abs_tol=1e-9)
    # conv (pre-activation) and ReLU at the winner, then the pooled value: they add up
    assert [(s["row"], s["col"]) for s in want["steps"][:2]] == [(wr, wc)] * 2
    assert shown[1] == shown[2]
    assert want["steps"][1]["value"] == float(fm["pool"][0, r // 2, c // 2, f])
    assert shown[0] == shown[1] or shown[1] == 0  # ReLU
    clicked_value = float(fm["conv"][0, r, c, f])
    assert clicked_value < want["steps"][1]["value"]
    # the clicked cell is marked on the conv and ReLU cards, with its own value
    assert [steps.nth(k).get_attribute("data-clicked") for k in range(3)] == [
        "elsewhere",
        "elsewhere",
        None,
    ]
    mark = steps.nth(1).locator(".fmw-trace-clicked").inner_text()
    assert mark.startswith(f"you clicked ({r}, {c}) = ")
    assert math.isclose(_number(mark), clicked_value, rel_tol=5e-3, abs_tol=1e-9)
    assert steps.nth(2).locator(".fmw-trace-clicked").count() == 0
    # ... and outlined in its own colour on the thumbnails and on the grid
    lime = (0x7C, 0xFF, 0x4F)
    mini = steps.nth(1).locator("canvas.fmw-trace-map")
    harness_page.page.wait_for_function(
        "(c) => c.width > 0", arg=mini.element_handle(), timeout=5_000
    )
    assert count_color(mini, lime) >= 2
    assert count_color(steps.nth(2).locator("canvas.fmw-trace-map"), lime) == 0
    assert count_color(harness_page.root.locator(".fmw-gridwrap .fmw-overlay"), lime) >= 2
    # the conv arithmetic is the winner's: its total is the pre-activation value shown
    total = harness_page.root.locator(".fmw-conv .fmw-total .fmw-num").inner_text()
    assert math.isclose(_number(total), want["steps"][0]["value"], rel_tol=5e-3, abs_tol=1e-9)
    assert harness_page.page_errors == []
