"""Pictures: Python's save_png paints the grid's colours; the view's "save PNG" button
downloads the grid canvas pixel for pixel. Real Keras model, real bundle, headless Chromium."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from .helpers import Harness

pytestmark = pytest.mark.browser

PIL = pytest.importorskip("PIL.Image", reason="save_png needs Pillow (the test extra has it)")


@pytest.fixture(scope="module")
def signed_widget() -> Any:
    import keras

    import fmwidget

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((9, 9, 2)), keras.layers.Conv2D(3, 3, name="c")])
    x = np.random.default_rng(4).normal(size=(9, 9, 2)).astype("float32")
    return fmwidget.FeatureMapWidget(model, x, view="grid")


def grid_pixels(h: Harness) -> np.ndarray:
    d = h.root.locator("canvas.fmw-grid").evaluate(
        """(c) => ({w: c.width, h: c.height,
        data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)})"""
    )
    return np.array(d["data"], np.uint8).reshape(d["h"], d["w"], 4)


def test_save_png_has_the_grids_colours_and_the_button_downloads_the_grid(
    harness_page: Harness, signed_widget: Any, tmp_path: Any
) -> None:
    h = harness_page
    h.mount_widget(signed_widget)
    h.ready()
    layout = h.root.locator("canvas.fmw-grid").evaluate("(c) => c.width")
    assert layout > 0
    info = h.root.locator(".fmw-info").inner_text()
    zoom = int(info.split("zoom \u00d7")[1].split()[0])
    grid = grid_pixels(h)
    # Python's picture of the same layer, never displayed there
    pic = signed_widget.save_png(tmp_path / "c.png")
    img = np.asarray(PIL.open(tmp_path / "c.png").convert("RGB"))
    _, x, y, k = pic.maps[0]
    # map 0 sits first in the grid (index order), 2 px in (the pane's frame)
    mismatched = 0
    for r in range(7):
        for c in range(7):
            browser = grid[2 + r * zoom + zoom // 2, 2 + c * zoom + zoom // 2, :3]
            python = img[y + r * k + k // 2, x + c * k + k // 2]
            mismatched += int(not np.array_equal(browser, python))
    assert mismatched == 0, f"{mismatched} of 49 cells differ"
    # the button: a PNG download of the grid canvas, pixel for pixel
    with h.page.expect_download() as dl:
        h.root.locator(".fmw-save-png").click()
    download = dl.value
    assert download.suggested_filename == "c.png"
    with open(download.path(), "rb") as f:
        saved = np.asarray(PIL.open(io.BytesIO(f.read())).convert("RGBA"))
    np.testing.assert_array_equal(saved, grid)
    assert h.page_errors == []
