"""save_png / save_svg: pictures rendered in Python, cell for cell in the grid's colours."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.render import DIVERGING_LUT, SEQUENTIAL_LUT, colorize

PIL = pytest.importorskip("PIL.Image", reason="save_png needs Pillow (the test extra has it)")


@pytest.fixture(scope="module")
def widget():
    keras.utils.set_random_seed(6)
    model = keras.Sequential(
        [
            keras.Input((10, 12, 3)),
            L.Conv2D(5, 3, name="signed"),
            L.ReLU(name="relu"),
            L.MaxPooling2D(2, name="pool"),
        ]
    )
    x = np.random.default_rng(1).uniform(size=(10, 12, 3)).astype("float32")
    return fmwidget.FeatureMapWidget(model, x, layer="signed", view="grid")


def expected(values: np.ndarray, m: float, diverging: bool) -> np.ndarray:
    """The browser's mapping, written out: floor(v * 256 / span + offset) into the table."""
    lut = DIVERGING_LUT if diverging else SEQUENTIAL_LUT
    t = values * (128 / m) + 128 if diverging else values * (256 / m)
    return lut[np.clip(np.floor(t), 0, 255).astype(int)]


def test_tables_are_the_diverging_scale_and_its_positive_half():
    assert DIVERGING_LUT.shape == (256, 3)
    np.testing.assert_array_equal(SEQUENTIAL_LUT[::2], DIVERGING_LUT[128:])
    r, _, b = DIVERGING_LUT[0].astype(int)
    assert b > 2 * r  # negative: blue
    r, _, b = DIVERGING_LUT[-1].astype(int)
    assert r > 2 * b  # positive: red
    assert DIVERGING_LUT[127:129].min() > 230  # near white at 0


@pytest.mark.parametrize(("layer", "diverging"), [("signed", True), ("pool", False)])
def test_png_cells_are_the_maps_in_the_grid_colours(widget, tmp_path, layer, diverging):
    path = tmp_path / "maps.png"
    pic = widget.save_png(path, layer=layer)
    img = np.asarray(PIL.open(path).convert("RGB"))
    assert img.shape == (pic.height, pic.width, 3)
    maps = widget.fm[layer][0]
    m = float(np.abs(maps).max())
    assert len(pic.maps) == maps.shape[-1]
    for c, x, y, k in pic.maps:
        assert pic.ranges[c] == (pytest.approx(m), diverging)
        want = expected(maps[..., c].astype(np.float64), m, diverging)
        got = img[y + k // 2 : y + maps.shape[0] * k : k, x + k // 2 : x + maps.shape[1] * k : k]
        np.testing.assert_array_equal(got, want)
    # the input panel: the image itself, min to max
    x0, y0, ki = pic.input
    inp = widget.fm["input"][0]
    got = img[y0 + ki // 2 : y0 + 10 * ki : ki, x0 + ki // 2 : x0 + 12 * ki : ki].astype(int)
    lo, hi = inp.min(), inp.max()
    np.testing.assert_array_equal(got, np.floor((inp - lo) / (hi - lo) * 255 + 0.5).astype(int))


def test_per_map_range(widget, tmp_path):
    widget.colormap_range = "map"
    try:
        pic = widget.save_png(tmp_path / "m.png", layer="pool")
    finally:
        widget.colormap_range = "layer"
    maps = widget.fm["pool"][0]
    for c in range(maps.shape[-1]):
        assert pic.ranges[c][0] == pytest.approx(float(maps[..., c].max()))


def test_svg_holds_each_map_pixel_exact(widget, tmp_path):
    path = tmp_path / "maps.svg"
    pic = widget.save_svg(path)
    root = ET.parse(path).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    images = {im.get("data-name"): im for im in root.findall("s:image", ns)}
    assert set(images) == {"input", "colour bar"} | {f"map {c}" for c in range(5)}
    maps = widget.fm["signed"][0]
    m = float(np.abs(maps).max())
    for c, x, y, k in pic.maps:
        im = images[f"map {c}"]
        assert (int(im.get("x")), int(im.get("y"))) == (x, y)
        assert int(im.get("width")) == maps.shape[1] * k
        data = base64.b64decode(im.get("href").split(",", 1)[1])
        got = np.asarray(PIL.open(io.BytesIO(data)).convert("RGB"))
        np.testing.assert_array_equal(got, colorize(maps[..., c], m, True))
        np.testing.assert_array_equal(got, expected(maps[..., c].astype(np.float64), m, True))
    texts = [t.text for t in root.findall("s:text", ns)]
    assert texts[0].startswith("signed") and "map 4" in texts


def test_refuses_a_vector_layer_and_nan_is_magenta(widget, tmp_path):
    v = np.array([[np.nan, 1.0]])
    assert tuple(colorize(v, 1.0, True)[0, 0]) == (255, 0, 255)
    with pytest.raises(ValueError, match="nope"):
        widget.save_png(tmp_path / "x.png", layer="nope")
