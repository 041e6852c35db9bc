"""Renders the README screenshots (docs/img/*.png) from the real widget and real models.

The real bundle runs in headless Chromium against real ``FeatureMapWidget`` objects, through
the browser-test harness (``tests/browser/helpers.py``): the page's messages are answered by
the widget's own handler, so every pixel comes from Keras's numbers. Nothing but 127.0.0.1 is
reachable from the page.

    KERAS_BACKEND=tensorflow PYTHONPATH=. python scripts/screenshots.py [--out docs/img]

Needs: the built bundle (``npm run build``), Chromium at /usr/bin/chromium (or
``FMW_CHROMIUM``), playwright, keras, scikit-image and scikit-learn. Takes ~1 min.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="fmw-keras-home-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import fmwidget  # noqa: E402
from tests.browser.helpers import (  # noqa: E402
    BUNDLE,
    CHROMIUM,
    CHROMIUM_ARGS,
    Harness,
    hover_grid,
    new_context,
)

L = keras.layers
MAX_BYTES = 300_000


def edge_model_and_photo():
    """Notebook 2's hand-made edge filters on a real photo (scikit-image's astronaut)."""
    from skimage import data, transform

    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "float32") / 4
    checker = np.where(np.indices((3, 3)).sum(0) % 2, -1.25, 1.0).astype("float32") / 9
    kernel = np.zeros((3, 3, 3, 4), "float32")
    kernel[:, :, :, 0] = sobel[..., None] / 3
    kernel[:, :, :, 1] = sobel.T[..., None] / 3
    kernel[:, :, 0, 2], kernel[:, :, 2, 2] = sobel, -sobel
    kernel[:, :, :, 3] = checker[..., None] / 3
    model = keras.Sequential(
        [
            keras.Input((96, 128, 3)),
            L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False, name="edges"),
            L.MaxPooling2D(2, name="pool"),
        ],
        name="hand_made_filters",
    )
    model.get_layer("edges").set_weights([kernel])
    photo = transform.resize(data.astronaut(), (96, 128), anti_aliasing=True).astype("float32")
    return model, photo


_DIGITS: dict = {}


def digits_model_and_input():
    """Notebook 3's digits CNN, built and trained by the notebook's own cells (~5 s)."""
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / "03_trained_network.ipynb", as_version=4)
    scope: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(cell.source, scope)  # the notebook's code, run as the notebook runs it
            if "model.fit(" in cell.source:
                break
    _DIGITS.update(scope)  # the digits themselves, for the filter card's top examples
    return scope["model"], scope["images"][1500]


def resnet_and_photo():
    """ResNet50 (random weights: none can be downloaded here) on scikit-image's astronaut."""
    from skimage import data, transform

    photo = transform.resize(data.astronaut(), (224, 224), anti_aliasing=True).astype("float32")
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(weights=None), photo


def overview_ready(harness: Harness) -> None:
    harness.ready(timeout=120_000)
    harness.page.wait_for_selector('.fmw-overview[data-pending="0"]', timeout=120_000)


def shoot(harness: Harness, path: pathlib.Path) -> None:
    harness.page.wait_for_timeout(300)  # let the last frame paint
    harness.root.screenshot(path=str(path), animations="disabled")
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1000:.0f} kB)")
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over the {MAX_BYTES} limit")
    if harness.page_errors:
        raise SystemExit(f"page errors while rendering {path.name}: {harness.page_errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not BUNDLE.is_file():
        raise SystemExit(f"{BUNDLE} is missing: run `npm run build` in {REPO}")

    from playwright.sync_api import sync_playwright

    edge_model, photo = edge_model_and_photo()
    digits_model, digit = digits_model_and_input()
    fm = fmwidget.extract(digits_model, digit)
    p2 = fm["pool2"][0]
    r, c, f = (int(v) for v in np.unravel_index(np.argmax(p2), p2.shape))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = new_context(browser, viewport={"width": 1200, "height": 900})

            # 1. The grid: every map of a layer, here hand-made edge filters on a photo.
            harness = Harness(ctx.new_page())
            harness.mount_widget(
                fmwidget.FeatureMapWidget(edge_model, photo, layer="edges", view="grid")
            )
            harness.ready()
            shoot(harness, args.out / "grid.png")
            harness.page.close()

            # 2. Hover: the read-out and the receptive field outlined on the input.
            harness = Harness(ctx.new_page())
            harness.mount_widget(
                fmwidget.FeatureMapWidget(digits_model, digit, layer="conv2", view="grid")
            )
            harness.ready()
            cell = hover_grid(
                harness.page, harness.root, points=((0.06, 0.3), (0.06, 0.4), (0.33, 0.3))
            )
            print("hovered", cell)
            shoot(harness, args.out / "hover.png")
            harness.page.close()

            # 3. The trace panel for the strongest pool2 cell, set from Python.
            harness = Harness(ctx.new_page())
            widget = fmwidget.FeatureMapWidget(digits_model, digit, layer="pool2", view="grid")
            harness.mount_widget(widget)
            harness.ready()
            harness.kernel_set("trace_target", {"layer": "pool2", "filter": f, "row": r, "col": c})
            harness.root.locator(".fmw-trace-step").nth(2).wait_for()
            harness.root.locator(".fmw-trace-scale:not([hidden])").wait_for()
            shoot(harness, args.out / "trace.png")
            ctx.close()

            # 4. The network overview at 1280 x 800: ResNet50's blocks, sizes and depths.
            ctx = new_context(browser, viewport={"width": 1280, "height": 800})
            harness = Harness(ctx.new_page())
            harness.page.evaluate("() => { document.body.style.width = '1280px'; }")
            harness.mount_widget(fmwidget.FeatureMapWidget(*resnet_and_photo()))
            overview_ready(harness)
            shoot(harness, args.out / "overview.png")
            harness.page.close()

            # 5. Linked cells: a conv2 cell of the digits CNN, what it reads and what reads it.
            harness = Harness(ctx.new_page())
            harness.page.evaluate("() => { document.body.style.width = '1280px'; }")
            harness.mount_widget(fmwidget.FeatureMapWidget(digits_model, digit))
            overview_ready(harness)
            rect = harness.page.evaluate(
                "() => document.querySelector('.fmw-overview').fmwOverview.clientRect('conv2', 0)"
            )
            harness.page.mouse.move(rect["x"] + 0.45 * rect["w"], rect["y"] + 0.3 * rect["h"])
            harness.root.locator(".fmw-ov-readout[data-layer='conv2']").wait_for()
            shoot(harness, args.out / "linked.png")
            ctx.close()

            shoot_explain(browser, args.out, digits_model, digit)
        finally:
            browser.close()


def shoot_explain(browser, out: pathlib.Path, model, digit) -> None:
    """The filter card (top dataset patches, feature visualisation) and the input overlays."""
    images = _DIGITS["images"]
    ex = fmwidget.top_examples(model, images[:1200], layers=["conv1", "conv2"], k=8, progress=False)
    labels = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    ctx = new_context(browser, viewport={"width": 1200, "height": 900})

    # 6. The filter card of a conv2 filter: its top patches over 1200 digits, the feature vis.
    harness = Harness(ctx.new_page())
    widget = fmwidget.FeatureMapWidget(model, digit, layer="conv2", view="grid", examples=ex)
    widget.visualize_options = {"steps": 128}
    harness.mount_widget(widget)
    harness.ready()
    # the filter whose top patches differ most (many filters' best patches are all stroke)
    spread = [np.mean([p.std() for p in ex.patches("conv2", f)]) for f in range(16)]
    harness.kernel_set("selected_filters", [int(np.argmax(spread))])
    card = harness.root.locator(".fmw-card:not([hidden])")
    card.locator(".fmw-card-examples[data-count]").wait_for()
    card.locator(".fmw-card-vis-btn").click()
    card.locator('.fmw-card-vis[data-ready="1"]').wait_for(timeout=120_000)
    shoot(harness, out / "card.png")
    harness.page.close()

    # 7. Grad-CAM of the top class, named from class_labels, set from Python. (For the
    # digit above it is zero everywhere: no evidence for the class is positive; take one
    # where it is not.)
    shown = next(i for i in range(1500, 1797) if fmwidget.grad_cam(model, images[i]).max() > 0.5)
    widget = fmwidget.FeatureMapWidget(
        model, images[shown], layer="conv2", view="grid", overlay="grad_cam", class_labels=labels
    )
    harness = Harness(ctx.new_page())
    harness.mount_widget(widget)
    harness.ready()
    harness.root.locator("canvas.fmw-heat:not([hidden])").wait_for()
    shoot(harness, out / "gradcam.png")

    # 8. The effective receptive field of a hovered conv2 cell, inside its exact field.
    harness.root.locator(".fmw-overlay-mode").select_option("erf")
    cell = hover_grid(harness.page, harness.root)
    harness.root.locator(f'canvas.fmw-heat[data-mode="erf"][data-row="{cell["row"]}"]').wait_for()
    shoot(harness, out / "erf.png")
    ctx.close()


if __name__ == "__main__":
    main()
