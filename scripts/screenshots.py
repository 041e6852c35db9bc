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
from tests.browser.helpers import BUNDLE, CHROMIUM, CHROMIUM_ARGS, Harness, new_context  # noqa: E402
from tests.browser.probes import hover_grid  # noqa: E402

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


def ecg_model_and_signal():
    """A Conv1D model with hand-made filters (rising/falling edge, peak, smoothing) on a
    synthetic two-channel recording: an ECG-like trace (P, QRS, T waves) and breathing."""
    t = np.arange(256, dtype="float32")
    beat = np.zeros_like(t)
    for c in range(12, 256, 52):  # heartbeats
        beat += 0.15 * np.exp(-(((t - c + 10) / 3.0) ** 2))  # P
        beat += 1.0 * np.exp(-(((t - c) / 1.2) ** 2)) - 0.25 * np.exp(-(((t - c - 3) / 1.5) ** 2))
        beat += 0.3 * np.exp(-(((t - c - 16) / 5.0) ** 2))  # T
    rng = np.random.default_rng(0)
    ecg = beat + 0.02 * rng.normal(size=t.shape)
    breath = 0.4 * np.sin(2 * np.pi * t / 120) + 0.1
    x = np.stack([ecg, breath], axis=-1).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((256, 2)),
            L.Conv1D(6, 9, activation="relu", name="conv1"),
            L.MaxPooling1D(4, name="pool1"),
            L.Conv1D(8, 5, activation="relu", name="conv2"),
            L.GlobalAveragePooling1D(name="gap"),
        ],
        name="ecg_cnn",
    )
    k = np.zeros((9, 2, 6), "float32")
    u = np.linspace(-1, 1, 9)
    k[:, 0, 0] = np.sign(u) * (np.abs(u) > 0.1)  # rising edge
    k[:, 0, 1] = -k[:, 0, 0]  # falling edge
    k[:, 0, 2] = (1 - 4 * u**2) * np.exp(-2 * u**2)  # peak (Mexican hat)
    k[:, 0, 3] = 1 / 9  # smoothing
    k[:, 1, 4] = np.sign(u) * 0.5  # breathing in
    k[:, 1, 5] = -np.sign(u) * 0.5  # breathing out
    model.get_layer("conv1").set_weights([k, np.zeros(6, "float32")])
    return model, x


def volume_model_and_scan():
    """A Conv3D model with hand-made filters (edges along depth, rows and columns, a blob
    detector, smoothing) on a synthetic scan: a bright ball and a tube through the volume."""
    z, y, x = np.mgrid[:16, :32, :32].astype("float32")
    ball = np.exp(-(((z - 8) ** 2 + (y - 12) ** 2 + (x - 18) ** 2) / 18.0))
    tube = np.exp(-(((y - 24 + 0.4 * z) ** 2 + (x - 8) ** 2) / 4.0))
    rng = np.random.default_rng(1)
    scan = (0.9 * ball + 0.6 * tube + 0.03 * rng.normal(size=z.shape)).clip(0, 1)
    model = keras.Sequential(
        [
            keras.Input((16, 32, 32, 1)),
            L.Conv3D(5, 3, padding="same", activation="relu", name="conv1"),
            L.MaxPooling3D(2, name="pool1"),
            L.Conv3D(8, 3, activation="relu", name="conv2"),
        ],
        name="scan_cnn",
    )
    k = np.zeros((3, 3, 3, 1, 5), "float32")
    d = np.array([-1.0, 0.0, 1.0], "float32")
    k[:, 1, 1, 0, 0] = d  # edge along depth
    k[1, :, 1, 0, 1] = d  # edge along rows
    k[1, 1, :, 0, 2] = d  # edge along columns
    k[:, :, :, 0, 3] = -1 / 26
    k[1, 1, 1, 0, 3] = 1.0  # blob (centre minus surround)
    k[:, :, :, 0, 4] = 1 / 27  # smoothing
    model.get_layer("conv1").set_weights([k * 2, np.zeros(5, "float32")])
    return model, scan[..., None].astype("float32")


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
    parser.add_argument("--only", default="", help="comma-separated shots, e.g. stepper,trace")
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n}
    unknown = only - set(SHOTS)
    if unknown:
        raise SystemExit(f"Expected shots among {', '.join(SHOTS)}, received {sorted(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if not BUNDLE.is_file():
        raise SystemExit(f"{BUNDLE} is missing: run `npm run build` in {REPO}")

    from playwright.sync_api import sync_playwright

    models = Models()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for name, shot in SHOTS.items():
                if only and name not in only:
                    continue
                size = (1280, 800) if name in WIDE else (1200, 900)
                ctx = new_context(browser, viewport={"width": size[0], "height": size[1]})
                harness = Harness(ctx.new_page())
                harness.page.evaluate("(w) => { document.body.style.width = w + 'px'; }", size[0])
                try:
                    shot(harness, models, args.out / f"{name}.png")
                finally:
                    ctx.close()
            if not only or "explain" in only:
                shoot_explain(browser, args.out, *models.digits)
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


class Models:
    """The models and inputs of the shots, made on first use."""

    def __init__(self) -> None:
        self._cache: dict[str, object] = {}

    def get(self, name: str, make):
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    @property
    def edges(self):
        return self.get("edges", edge_model_and_photo)

    @property
    def digits(self):
        return self.get("digits", digits_model_and_input)

    @property
    def resnet(self):
        return self.get("resnet", resnet_and_photo)

    def strongest_pool2(self) -> tuple[int, int, int]:
        model, digit = self.digits
        p2 = fmwidget.extract(model, digit)["pool2"][0]
        r, c, f = (int(v) for v in np.unravel_index(np.argmax(p2), p2.shape))
        return r, c, f


def shot_grid(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """The grid: every map of a layer, here hand-made edge filters on a photo."""
    model, photo = m.edges
    harness.mount_widget(fmwidget.FeatureMapWidget(model, photo, layer="edges", view="grid"))
    harness.ready()
    shoot(harness, path)


def shot_hover(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """Hover: the read-out and the receptive field outlined on the input."""
    model, digit = m.digits
    harness.mount_widget(fmwidget.FeatureMapWidget(model, digit, layer="conv2", view="grid"))
    harness.ready()
    cell = hover_grid(harness.page, harness.root, points=((0.06, 0.3), (0.06, 0.4), (0.33, 0.3)))
    print("hovered", cell)
    shoot(harness, path)


def traced_pool2(harness: Harness, m: Models) -> None:
    """The digits CNN's grid with its strongest pool2 cell traced, set from Python."""
    model, digit = m.digits
    r, c, f = m.strongest_pool2()
    harness.mount_widget(fmwidget.FeatureMapWidget(model, digit, layer="pool2", view="grid"))
    harness.ready()
    harness.kernel_set("trace_target", {"layer": "pool2", "filter": f, "row": r, "col": c})
    harness.root.locator(".fmw-trace-step").nth(2).wait_for()
    harness.root.locator(".fmw-trace-scale:not([hidden])").wait_for()


def shot_trace(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """The trace panel for the strongest pool2 cell."""
    traced_pool2(harness, m)
    shoot(harness, path)


def shot_stepper(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """The animated step-through, mid-way through conv2's sum (third input map)."""
    traced_pool2(harness, m)
    st = harness.root.locator(".fmw-stepper")
    for _ in range(3):  # past the sliding window, to the third input map
        st.locator(".fmw-step-next").click()
    shoot(harness, path)


def shot_stepper_pool(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """The step-through of the max-pool window, on its winner."""
    traced_pool2(harness, m)
    st = harness.root.locator(".fmw-stepper")
    st.locator('.fmw-step-mode[data-mode="pool"]').click()
    harness.page.wait_for_function(
        "() => document.querySelector('.fmw-stepper').dataset.kind === 'scan'"
    )
    n = int(st.get_attribute("data-frames"))
    for _ in range(n - 1):
        st.locator(".fmw-step-next").click()
    shoot(harness, path)


def shot_overview(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """The network overview at 1280 x 800: ResNet50's blocks, sizes and depths."""
    harness.mount_widget(fmwidget.FeatureMapWidget(*m.resnet))
    overview_ready(harness)
    shoot(harness, path)


def shot_linked(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """Linked cells: a conv2 cell of the digits CNN, what it reads and what reads it."""
    harness.mount_widget(fmwidget.FeatureMapWidget(*m.digits))
    overview_ready(harness)
    rect = harness.page.evaluate(
        "() => document.querySelector('.fmw-overview').fmwOverview.clientRect('conv2', 0)"
    )
    harness.page.mouse.move(rect["x"] + 0.45 * rect["w"], rect["y"] + 0.3 * rect["h"])
    harness.root.locator(".fmw-ov-readout[data-layer='conv2']").wait_for()
    shoot(harness, path)


def shot_compare(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """Compare: the digit and the digit moved one pixel right, layer by layer."""
    model, digit = m.digits
    widget = fmwidget.FeatureMapWidget(model, digit, view="grid")
    changes = widget.compare(shift=(0, 1))
    print("relative change:", {c["layer"]: round(c["change"], 3) for c in changes})
    harness.mount_widget(widget)
    cmp = harness.root.locator('.fmw-compare[data-state="ready"]')
    cmp.locator('.fmw-cmp-row[data-layer="conv1"]').click()
    cmp.locator('.fmw-cmp-maps[data-layer="conv1"]').wait_for()
    shoot(harness, path)


def shot_series(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """Conv1D: the input as a line plot, maps as strips on its time axis, a traced pool cell."""
    model, x = m.get("ecg", ecg_model_and_signal)
    p1 = fmwidget.extract(model, x)["pool1"][0]
    col = int(np.argmax(p1[:, 2]))  # the strongest peak (filter 2) cell
    harness.mount_widget(fmwidget.FeatureMapWidget(model, x, layer="pool1", view="grid"))
    harness.ready()
    harness.kernel_set("trace_target", {"layer": "pool1", "filter": 2, "row": 0, "col": col})
    harness.root.locator(".fmw-trace-step").nth(2).wait_for()
    harness.kernel_set("hover", {"layer": "pool1", "filter": 0, "row": 0, "col": 20, "value": 0})
    harness.root.locator(".fmw-readout[data-value]").wait_for(state="attached")
    shoot(harness, path)


def shot_series_overview(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """The network overview of the Conv1D model: its layers' maps as strips."""
    model, x = m.get("ecg", ecg_model_and_signal)
    harness.mount_widget(fmwidget.FeatureMapWidget(model, x))
    overview_ready(harness)
    shoot(harness, path)


def shot_volume(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """Conv3D: one depth slice of every map, the slice scrubber, the hovered cell's field box
    on the input slice it reaches, a cell traced in 3-D to its pool winner."""
    model, scan = m.get("scan", volume_model_and_scan)
    widget = fmwidget.FeatureMapWidget(model, scan, layer="pool1", view="grid")
    harness.mount_widget(widget)
    harness.ready()
    harness.root.locator("input.fmw-slice").fill("4")
    harness.root.locator(".fmw-slices[data-slice='4']").wait_for()
    # the strongest cell of the blob filter in slice 4, traced in 3-D down to conv1's winner
    r, c = np.unravel_index(np.argmax(widget.fm["pool1"][0, 4, :, :, 4]), (16, 16))
    target = {"layer": "pool1", "filter": 4, "depth": 4, "row": int(r), "col": int(c)}
    harness.kernel_set("trace_target", target)
    harness.root.locator(".fmw-trace-step[data-layer='pool1']").wait_for()
    harness.kernel_set("hover", {"layer": "pool1", "filter": 3, "row": 6, "col": 9, "value": 0})
    harness.root.locator(".fmw-readout[data-value]").wait_for(state="attached")
    shoot(harness, path)


def shot_export(_harness: Harness, m: Models, path: pathlib.Path) -> None:
    """w.save_png from Python (no browser): the digits CNN's conv1 maps and the input."""
    model, digit = m.digits
    widget = fmwidget.FeatureMapWidget(model, digit, layer="conv1", view="grid")
    widget.save_png(path)
    widget.save_svg(path.with_suffix(".svg"))
    print(f"wrote {path} and {path.with_suffix('.svg')} (w.save_png / w.save_svg)")


def shot_draw(harness: Harness, m: Models, path: pathlib.Path) -> None:
    """The pen: a "7" drawn with the mouse on a blank input; the maps follow on mouse-up."""
    model, digit = m.digits
    widget = fmwidget.FeatureMapWidget(model, np.zeros_like(digit), layer="conv1", view="grid")
    harness.mount_widget(widget)
    harness.ready()
    harness.page.wait_for_function("() => document.querySelector('.fmw-stack')?.dataset.pen")
    box = harness.root.locator("canvas.fmw-input").bounding_box()
    cell = box["width"] / digit.shape[1]
    mouse = harness.page.mouse
    for stroke in (((5, 6), (5, 18), (20, 10)),):  # (row, col) points of one stroke
        version = widget.data_version
        mouse.move(box["x"] + stroke[0][1] * cell, box["y"] + stroke[0][0] * cell)
        mouse.down()
        for r, c in stroke[1:]:
            mouse.move(box["x"] + c * cell, box["y"] + r * cell, steps=12)
        mouse.up()
        harness.page.wait_for_function(
            "(v) => window.__fmwModel.get('data_version') > v", arg=version
        )
    probs = np.asarray(model(widget.input_array[None]))[0]
    print(f"drawn 7: predicted {int(probs.argmax())} ({probs.max():.2f})")
    harness.ready()
    shoot(harness, path)


SHOTS = {
    "grid": shot_grid,
    "hover": shot_hover,
    "trace": shot_trace,
    "stepper": shot_stepper,
    "stepper_pool": shot_stepper_pool,
    "compare": shot_compare,
    "export": shot_export,
    "overview": shot_overview,
    "linked": shot_linked,
    "draw": shot_draw,
    "series": shot_series,
    "series_overview": shot_series_overview,
    "volume": shot_volume,
}
# Shots at 1280 x 800 (the others at 1200 x 900, as before).
WIDE = {"stepper", "stepper_pool", "compare", "overview", "linked"}

if __name__ == "__main__":
    main()
