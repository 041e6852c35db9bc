"""Draw or upload your own input: the pen on the input panel and the image upload send the
new image to the kernel (``set_input``), which runs it; the maps repaint. Real Keras model
answering through the widget's own handler, real bundle, headless Chromium, real mouse."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from .helpers import Harness

pytestmark = pytest.mark.browser

PIL = pytest.importorskip("PIL.Image", reason="the upload test writes a PNG with Pillow")

SIZE = 24  # the digits CNN's input (notebook 3)


@pytest.fixture
def digits_widget() -> Any:
    import keras

    import fmwidget

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax", name="scores"),
        ],
        name="digits_like",
    )
    x = np.zeros((SIZE, SIZE, 1), np.float32)
    x[0, 0] = 1.0  # the input is shown in [0, 1]: ink 1.0 is white
    labels = ["zero", "<b>one</b>", "two"]  # shown as text, never as HTML
    return fmwidget.FeatureMapWidget(model, x, view="grid", class_labels=labels)


def pixels(h: Harness, selector: str) -> np.ndarray:
    d = h.root.locator(selector).evaluate(
        """(c) => ({w: c.width, h: c.height,
        data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)})"""
    )
    return np.array(d["data"], np.uint8).reshape(d["h"], d["w"], 4)


def last_set_input(h: Harness) -> tuple[dict[str, Any], np.ndarray]:
    sent, buffers = h.sent(), h.sent_buffers()
    index = max(i for i, m in enumerate(sent) if m.get("type") == "set_input")
    msg = sent[index]
    assert msg["dtype"] == "float32" and msg["layout"] == "chw", msg
    (buf,) = buffers[index]
    values = np.frombuffer(buf, "<f4").reshape(msg["channels"], msg["height"], msg["width"])
    return msg, values


def wait_version(h: Harness, version: int) -> None:
    h.page.wait_for_function("(v) => window.__fmwModel.get('data_version') === v", arg=version)


def test_pen_stroke_is_drawn_sent_and_run(harness_page: Harness, digits_widget: Any) -> None:
    h = harness_page
    h.mount_widget(digits_widget)
    h.ready()
    canvas = h.root.locator("canvas.fmw-input")
    h.page.wait_for_function(
        "() => document.querySelector('.fmw-stack')?.dataset.pen === 'draw'"
    )  # the pen is on by default for a grey input
    before = pixels(h, "canvas.fmw-input")
    grid_before = pixels(h, "canvas.fmw-grid")
    version = digits_widget.data_version
    box = canvas.bounding_box()
    cell = box["width"] / SIZE

    def at(row: float, col: float) -> tuple[float, float]:
        return box["x"] + col * cell, box["y"] + row * cell

    h.page.mouse.move(*at(12.5, 4.5))
    h.page.mouse.down()
    h.page.mouse.move(*at(12.5, 19.5), steps=6)
    # (a) the canvas shows the stroke before the kernel answers
    during = pixels(h, "canvas.fmw-input")
    k = before.shape[0] // SIZE
    for col in (5, 10, 15, 19):
        y, x = 12 * k + k // 2, col * k + k // 2
        assert before[y, x, :3].max() < 8  # black (the greys scale's darkest)
        assert during[y, x, :3].min() > 247, (col, during[y, x])  # white ink
    assert during[3 * k, 12 * k, :3].max() < 8  # far from the stroke: unchanged
    h.page.mouse.up()
    wait_version(h, version + 1)
    h.page.wait_for_function(  # "running the model…" goes once the kernel has answered
        "() => document.querySelector('.fmw-draw-msg').textContent.startsWith('the network')"
    )
    scores = digits_widget.fm["scores"][0]  # the kernel's forward pass on the drawing
    top = int(np.argmax(scores))
    said = h.root.locator(".fmw-draw-msg").text_content()
    assert said.startswith(f"the network says: {digits_widget.class_labels[top]} (output ")
    assert h.root.locator(".fmw-draw-msg b").count() == 0

    # (b) the message: the model's shape, the stroke's pixels at the right cells
    msg, values = last_set_input(h)
    assert (msg["height"], msg["width"], msg["channels"]) == (SIZE, SIZE, 1)
    img = values[0]
    assert np.all(img[12, 5:20] == 1.0), img[12]
    assert np.all(img[11:14, 6:18] > 0.4)  # a stroke a few pixels wide (medium brush)
    assert img[0, 0] == 1.0  # the original input under the pen is kept
    rest = img.copy()
    rest[0, 0] = 0
    assert np.all(rest[:8] == 0) and np.all(rest[17:] == 0)  # no ink anywhere else
    # the kernel ran it: Python reads the drawn input back; the maps follow it
    np.testing.assert_array_equal(digits_widget.input_array[:, :, 0], img)
    assert digits_widget.data_version == version + 1
    h.page.wait_for_function(
        """(before) => {
            const c = document.querySelector('canvas.fmw-grid');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let diff = 0;
            for (let i = 0; i < d.length; i += 4) diff += d[i] !== before[i] ? 1 : 0;
            return diff > 0;
        }""",
        arg=grid_before[..., :].reshape(-1).tolist(),
    )
    # right button erases; reset goes back to the original input exactly
    h.page.mouse.move(*at(12.5, 10.5))
    h.page.mouse.down(button="right")
    h.page.mouse.up(button="right")
    wait_version(h, version + 2)
    _, erased = last_set_input(h)
    assert erased[0, 12, 10] == 0.0 and erased[0, 12, 5] == 1.0
    h.root.locator(".fmw-draw-reset").click()
    wait_version(h, version + 3)
    x0 = np.zeros((SIZE, SIZE), np.float32)
    x0[0, 0] = 1.0
    np.testing.assert_array_equal(digits_widget.input_array[:, :, 0], x0)
    assert h.page_errors == []


def test_upload_is_cropped_resized_and_sent(harness_page: Harness, digits_widget: Any) -> None:
    h = harness_page
    h.mount_widget(digits_widget)
    h.ready()
    version = digits_widget.data_version
    # 96x48: grey outer quarters (cropped away to the square input), white | black centre
    rgb = np.full((48, 96, 3), 128, np.uint8)
    rgb[:, 24:48] = 255
    rgb[:, 48:72] = 0
    png = io.BytesIO()
    PIL.fromarray(rgb).save(png, format="PNG")
    h.root.locator(".fmw-draw-file").set_input_files(
        {"name": '<img src=x onerror="window.__pwned=1">.png', "mimeType": "image/png",
         "buffer": png.getvalue()}
    )  # fmt: skip
    wait_version(h, version + 1)
    msg, values = last_set_input(h)
    assert (msg["height"], msg["width"], msg["channels"]) == (SIZE, SIZE, 1)
    img = values[0]
    np.testing.assert_allclose(img[:, :11], 1.0, atol=1 / 255)  # white half, in [0, 1]
    np.testing.assert_allclose(img[:, 13:], 0.0, atol=1 / 255)  # black half
    np.testing.assert_array_equal(digits_widget.input_array[:, :, 0], img)
    assert h.page.evaluate("() => window.__pwned") is None
    assert h.page_errors == []
