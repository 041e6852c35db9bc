"""The filter card and the input overlays, with the real bundle in real Chromium.

A real Keras classifier and real top examples answer every request through the widget's own
handler (``KernelResponder``); the checks read canvas pixels back with ``getImageData`` and
compare them with what fmwidget computes in Python: the card's patches with
``TopExamples.patches``, the overlay's opacity with ``grad_cam`` / ``saliency`` /
``effective_receptive_field``. The static export's card runs offline from the embedded replies.
"""

from __future__ import annotations

import pathlib
from typing import Any

import keras
import numpy as np
import pytest

from .probes import READOUT, hover_grid

pytestmark = pytest.mark.browser

#: Opacity of an overlay value of 1 (js/model/explain.ts OVERLAY_ALPHA).
OVERLAY_ALPHA = 200
CONV = "conv"
CONV2 = "conv2"


@pytest.fixture(scope="module")
def classifier() -> tuple[Any, Any, Any]:
    """(model, x, data): a small real CNN classifier (3 classes), one input, 24 samples."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((14, 14, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name=CONV),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Conv2D(5, 3, activation="relu", name=CONV2),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, activation="softmax", name="head"),
        ],
        name="card_cnn",
    )
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 1, (24, 14, 14, 1)).astype("float32")
    return model, data[:1], data


@pytest.fixture(scope="module")
def examples(classifier: tuple[Any, Any, Any]) -> Any:
    import fmwidget

    model, _, data = classifier
    return fmwidget.top_examples(model, data, layers=[CONV, CONV2], k=4, batch_size=8)


def make_widget(classifier: tuple[Any, Any, Any], examples: Any, **traits: Any) -> Any:
    from fmwidget import FeatureMapWidget

    model, x, _ = classifier
    w = FeatureMapWidget(model, x, layer=CONV2, examples=examples, view="grid", **traits)
    w.visualize_options = {"steps": 12}
    return w


def pixels(canvas: Any) -> np.ndarray:
    """A canvas's RGBA pixels, (height, width, 4) uint8, via getImageData."""
    out = canvas.evaluate(
        """(c) => ({w: c.width, h: c.height,
            d: Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data)})"""
    )
    return np.array(out["d"], dtype=np.uint8).reshape(out["h"], out["w"], 4)


def shown_grey(patch: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """What the card draws for a one-channel patch: float16 values mapped to 0..255."""
    v = patch.astype(np.float16).astype(np.float64)[..., 0]
    return np.clip((v - lo) * 255.0 / (hi - lo), 0, 255)


def check_card(root: Any, ex: Any, layer: str, channel: int) -> None:
    """The card's patches are ``ex.patches(layer, channel)``, pixel for pixel, with their labels."""
    card = root.locator(f'.fmw-card[data-filter="{channel}"]')
    card.wait_for(state="visible")
    assert card.get_attribute("data-layer") == layer
    strip = card.locator(f'.fmw-card-examples[data-count="{ex.k}"]')
    strip.wait_for(state="attached")
    lo, hi = float(strip.get_attribute("data-lo")), float(strip.get_attribute("data-hi"))
    assert (lo, hi) == (0.0, 1.0)  # the samples are in [0, 1]: shown as images in [0, 1]
    patches = ex.patches(layer, channel)
    boxes = ex.boxes(layer)[channel]
    canvases = card.locator("canvas.fmw-card-patch")
    assert canvases.count() == ex.k
    zoom = int(strip.get_attribute("data-zoom"))
    for j, patch in enumerate(patches):
        c = canvases.nth(j)
        rgba = pixels(c)
        (r0, r1), (c0, c1) = boxes[j]
        # one canvas pixel per input pixel, exactly the receptive field's box
        assert rgba.shape[:2] == patch.shape[:2] == (r1 - r0, c1 - c0)
        want = shown_grey(patch, lo, hi)
        assert np.abs(rgba[..., 0].astype(float) - want).max() <= 1.0, j
        assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 3] == 255).all()
        assert int(c.get_attribute("data-sample")) == int(ex.indices(layer)[channel, j])
        assert float(c.get_attribute("data-value")) == pytest.approx(
            float(ex.values(layer)[channel, j]), rel=1e-6
        )
        box = c.bounding_box()
        assert box is not None and box["width"] == pytest.approx((c1 - c0) * zoom, abs=0.5)
    captions = card.locator(".fmw-card-example figcaption.fmw-muted")
    assert captions.nth(0).text_content() == f"#{int(ex.indices(layer)[channel, 0])}"


def test_card_shows_the_top_patches_exactly(
    harness_page: Any, classifier: Any, examples: Any
) -> None:
    h = harness_page
    w = make_widget(classifier, examples)
    root = h.mount_widget(w)
    h.ready()
    assert root.locator(".fmw-card").is_hidden()  # nothing selected yet
    h.kernel_set("selected_filters", [3])
    check_card(root, examples, CONV2, 3)
    # selecting by a click in the grid opens the clicked filter's card
    hv = hover_grid(h.page, root)
    h.page.mouse.down()
    h.page.mouse.up()
    check_card(root, examples, CONV2, int(hv["filter"]))
    # a layer without examples says how to compute them
    h.kernel_set("layer", "pool")
    h.kernel_set("selected_filters", [0])
    hint = root.locator('.fmw-card[data-layer="pool"] .fmw-card-hint')
    hint.wait_for(state="visible")
    assert 'w.compute_examples(data, layers=["pool"])' in hint.text_content()
    assert h.page_errors == []


def test_feature_visualisation_on_request_with_progress_then_cached(
    harness_page: Any, classifier: Any, examples: Any
) -> None:
    import fmwidget

    h = harness_page
    w = make_widget(classifier, examples)
    root = h.mount_widget(w)
    h.ready()
    h.kernel_set("selected_filters", [1])
    card = root.locator('.fmw-card[data-filter="1"]')
    card.wait_for(state="visible")
    asked = [m for m in h.sent() if m.get("type") == "get_filter_image"]
    assert asked == []  # computed on request only
    card.locator(".fmw-card-vis-btn").click()
    card.locator('.fmw-card-vis[data-ready="1"]').wait_for(state="attached")
    img = pixels(card.locator("canvas.fmw-card-vis-img"))
    model = classifier[0]
    vis = fmwidget.visualize_filter(model, CONV2, 1, steps=12, progress=False)
    want = np.round(np.clip(vis.image, 0, 1) * 255).astype(np.uint8)[..., 0]
    assert img.shape[:2] == want.shape
    assert np.abs(img[..., 0].astype(int) - want.astype(int)).max() <= 1
    # the kernel reported its steps in `status` while it ran (the card shows the phase)
    from fmwidget.messages import GRADIENT_PHASES

    assert "visualize" in GRADIENT_PHASES
    # away and back: the image comes from the store's cache, not a second request
    h.kernel_set("selected_filters", [2])
    root.locator('.fmw-card[data-filter="2"]').wait_for(state="visible")
    h.kernel_set("selected_filters", [1])
    card.locator('.fmw-card-vis[data-ready="1"]').wait_for(state="attached")
    assert len([m for m in h.sent() if m.get("type") == "get_filter_image"]) == 1
    assert h.page_errors == []


def test_card_progress_text_follows_the_status_trait(
    harness_page: Any, classifier: Any, examples: Any
) -> None:
    """While a visualisation is pending, a `status` of phase "visualize" reads as steps."""
    h = harness_page
    w = make_widget(classifier, examples)
    root = h.mount_widget(w)
    h.ready()
    h.responder = lambda content: []  # the kernel is busy: no reply yet
    h.kernel_set("selected_filters", [0])
    card = root.locator('.fmw-card[data-filter="0"]')
    card.locator(".fmw-card-vis-btn").click()
    h.kernel_set("status", {"phase": "visualize", "done": 5, "total": 12})
    status = card.locator('.fmw-card-vis-status[data-progress="5/12"]')
    status.wait_for(state="attached")
    assert status.text_content() == "feature visualisation… step 5 of 12"
    assert card.locator(".fmw-card-vis-btn").is_disabled()
    # the UI does not wait: hovering the grid still reads values
    assert hover_grid(h.page, root)["layer"] == CONV2


def heat(root: Any, **attrs: Any) -> np.ndarray:
    sel = "".join(f'[data-{k}="{v}"]' for k, v in attrs.items())
    canvas = root.locator(f"canvas.fmw-heat{sel}")
    canvas.wait_for(state="visible")
    return pixels(canvas)


def check_follows(alpha: np.ndarray, values: np.ndarray) -> None:
    """The overlay's opacity is the value over its peak, and its hottest pixel is the max."""
    scaled = np.asarray(values, np.float64) / float(np.max(values))
    want = np.round(scaled.astype(np.float16).astype(np.float64) * OVERLAY_ALPHA)
    assert alpha.shape == values.shape
    assert np.abs(alpha.astype(float) - want).max() <= 1.0
    hottest = np.argwhere(alpha == alpha.max())
    assert tuple(np.unravel_index(np.argmax(values), values.shape)) in map(tuple, hottest)


def test_overlay_set_from_python_follows_grad_cam_and_saliency(
    harness_page: Any, classifier: Any, examples: Any
) -> None:
    import fmwidget

    h = harness_page
    model, x, _ = classifier
    w = make_widget(classifier, examples)
    root = h.mount_widget(w)
    h.ready()
    assert root.locator("canvas.fmw-heat").is_hidden()
    h.kernel_set("overlay", "grad_cam")  # Python sets the trait: the view follows
    top = int(np.argmax(keras.ops.convert_to_numpy(model(x, training=False))[0]))
    alpha = heat(root, mode="grad_cam", **{"class": top})[..., 3]
    check_follows(alpha, fmwidget.grad_cam(model, x[0]))
    assert root.locator(".fmw-overlay-mode").input_value() == "grad_cam"
    info = root.locator(".fmw-explain-info").text_content()
    assert info == f"Grad-CAM of class {top} (top prediction) at {CONV2}"
    # with labels, the class is named
    h.kernel_set("class_labels", ["cat", "dog", "emu"])
    h.kernel_set("class_index", 2)
    heat(root, mode="grad_cam", **{"class": 2})
    assert (
        root.locator(".fmw-explain-info").text_content() == f"Grad-CAM of class 2 · emu at {CONV2}"
    )
    # the menu sets the trait for Python, and the overlay follows
    root.locator(".fmw-overlay-mode").select_option("saliency")
    assert {"key": "overlay", "value": "saliency"} in h.sets()
    alpha = heat(root, mode="saliency", **{"class": 2})[..., 3]
    check_follows(alpha, fmwidget.saliency(model, x[0], class_index=2))
    root.locator(".fmw-overlay-mode").select_option("none")
    root.locator("canvas.fmw-heat").wait_for(state="hidden")
    assert h.page_errors == []


def test_bad_class_index_is_a_clear_error_and_the_widget_keeps_working(
    harness_page: Any, classifier: Any, examples: Any
) -> None:
    import fmwidget

    h = harness_page
    model, x, _ = classifier
    w = make_widget(classifier, examples, overlay="grad_cam")
    root = h.mount_widget(w)
    h.ready()
    heat(root, mode="grad_cam")
    box = root.locator(".fmw-class-index")
    box.fill("7")
    box.press("Enter")
    err = root.locator('.fmw-explain[data-error="1"] .fmw-explain-info')
    err.wait_for(state="visible")
    assert err.text_content() == (
        "Expected a class index an integer in 0…2 (the model scores 3 classes), received 7."
    )
    assert root.locator("canvas.fmw-heat").is_hidden()
    assert all(s["key"] != "class_index" for s in h.sets())  # refused before the kernel
    # the kernel's own refusal (a class the browser could not check) is shown the same way
    h.kernel_set("layers", [*h.get("layers")[:-1], {**h.get("layers")[-1], "shape": []}])
    box.fill("9")
    box.press("Enter")
    root.locator('.fmw-explain[data-error="1"]').wait_for(state="attached")
    h.page.wait_for_function(
        "() => document.querySelector('.fmw-explain-info').textContent.includes('class_index')"
    )
    assert "received 9" in root.locator(".fmw-explain-info").text_content()
    # a good class again: the overlay is back, and the grid still answers
    box.fill("1")
    box.press("Enter")
    alpha = heat(root, mode="grad_cam", **{"class": 1})[..., 3]
    check_follows(alpha, fmwidget.grad_cam(model, x[0], class_index=1))
    assert root.locator(".fmw-explain").get_attribute("data-error") is None
    assert hover_grid(h.page, root)["layer"] == CONV2
    assert h.page_errors == []


def test_erf_follows_the_hovered_cell_inside_its_exact_field(
    harness_page: Any, classifier: Any, examples: Any
) -> None:
    h = harness_page
    w = make_widget(classifier, examples, overlay="erf")
    root = h.mount_widget(w)
    h.ready()
    hv = hover_grid(h.page, root)
    f, r, c = int(hv["filter"]), int(hv["row"]), int(hv["col"])
    alpha = heat(root, mode="erf", layer=CONV2, row=r, col=c, filter=f)[..., 3]
    erf = w.fm.effective_receptive_field(CONV2, (r, c), f)
    check_follows(alpha, erf)
    rows, cols = w.fm.receptive_field(CONV2, (r, c))
    outside = np.ones(alpha.shape, bool)
    outside[rows, cols] = False
    assert alpha.any() and not alpha[outside].any()  # the exact field bounds it
    # the hover's outline (white) is drawn above, around that same field
    assert root.locator(READOUT).get_attribute("data-row") == str(r)
    assert h.page_errors == []


def test_export_filter_card_works_offline(
    browser: Any, keep_artifacts: Any, tmp_path: pathlib.Path, classifier: Any, examples: Any
) -> None:
    """The static export answers `get_examples` in the page from the embedded replies."""
    from .test_export import ExportPage

    w = make_widget(classifier, examples)
    path = w.save_html(tmp_path / "card.html").path
    p = ExportPage(browser, path, from_file=True)
    try:
        p.ready()
        p.set("selected_filters", [4])
        check_card(p.root, examples, CONV2, 4)
        p.set("layer", CONV)
        p.set("selected_filters", [2])
        check_card(p.root, examples, CONV, 2)
        # Grad-CAM and saliency of the top class are embedded: the overlay works offline
        import fmwidget

        model, x, _ = classifier
        p.set("overlay", "grad_cam")
        check_follows(heat(p.root, mode="grad_cam")[..., 3], fmwidget.grad_cam(model, x[0]))
        p.set("overlay", "saliency")
        check_follows(heat(p.root, mode="saliency")[..., 3], fmwidget.saliency(model, x[0]))
        # other classes and ERFs need the kernel: the page says so instead of waiting
        top = int(np.argmax(keras.ops.convert_to_numpy(model(x, training=False))[0]))
        p.set("class_index", (top + 1) % 3)
        err = p.root.locator('.fmw-explain[data-error="1"] .fmw-explain-info')
        err.wait_for(state="visible")
        assert "static export" in err.text_content()
        assert f"not class {(top + 1) % 3}" in err.text_content()
        assert p.requests == [p.url]  # nothing but the file itself
        assert p.page_errors == []
    finally:
        keep_artifacts(p.page)
        p.close()


def test_examples_computed_later_fill_the_open_card_and_labels_stay_text(
    harness_page: Any, classifier: Any, examples: Any
) -> None:
    from .helpers import HOSTILE
    from .probes import assert_no_script_ran

    h = harness_page
    w = make_widget(classifier, None)
    root = h.mount_widget(w)
    h.ready()
    h.kernel_set("selected_filters", [2])
    root.locator('.fmw-card[data-filter="2"] .fmw-card-hint').wait_for(state="visible")
    w.examples = examples  # e.g. w.compute_examples(data) finished: the trait follows
    h.kernel_set("examples_summary", w.examples_summary)
    check_card(root, examples, CONV2, 2)
    # class labels are user data: text, never markup
    h.kernel_set("class_labels", [HOSTILE] * 3)
    h.kernel_set("overlay", "grad_cam")
    heat(root, mode="grad_cam")
    assert HOSTILE in root.locator(".fmw-explain-info").text_content()
    assert_no_script_ran(h.page, root, h.page_errors)
