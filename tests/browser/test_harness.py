"""The real bundle in a plain page against a fake anywidget model fed with real Keras maps."""

from __future__ import annotations

import math
from typing import Any

import pytest

from .helpers import (
    HOSTILE,
    assert_no_script_ran,
    canvas_summary,
    hover_grid,
    tiny_cnn_and_input,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_widget(tiny_maps: Any) -> Any:
    """A real FeatureMapWidget (no kernel: the harness plays the comm)."""
    from fmwidget import FeatureMapWidget

    model, x, _ = tiny_maps
    return FeatureMapWidget(model, x)


@pytest.fixture(scope="module")
def hostile_widget() -> Any:
    """A real model whose own name and conv layer name are HTML that would run script."""
    from fmwidget import FeatureMapWidget

    model, x = tiny_cnn_and_input(name=HOSTILE, conv_name=HOSTILE)
    return FeatureMapWidget(model, x)


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
