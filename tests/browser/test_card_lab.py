"""The filter card and the overlays in a real JupyterLab with a real kernel.

The harness tests (test_card.py) check pixels against Python; this one checks the path
through a real kernel and comm: Grad-CAM set from the notebook reaches the page, the card
gets its patches, and a feature visualisation's steps arrive in ``status`` while the kernel
computes it (the page records them), then the image.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .lab import LabNotebook, open_lab_notebook

pytestmark = [pytest.mark.browser, pytest.mark.jupyterlab, pytest.mark.slow]

CELLS = [
    """import json
import keras, numpy as np, fmwidget, fmwidget.widget
keras.utils.set_random_seed(3)
model = keras.Sequential([
    keras.Input((14, 14, 1)),
    keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
    keras.layers.MaxPooling2D(2, name="pool"),
    keras.layers.Conv2D(5, 3, activation="relu", name="conv2"),
    keras.layers.Flatten(name="flat"),
    keras.layers.Dense(3, activation="softmax", name="head"),
], name="card_cnn")
data = np.random.default_rng(0).uniform(0, 1, (24, 14, 14, 1)).astype("float32")
fmwidget.widget.STATUS_INTERVAL_S = 0.0  # every step reported
w = fmwidget.FeatureMapWidget(model, data[:1], layer="conv2", view="grid")
w.visualize_options = {"steps": 40}
statuses = []
w.observe(lambda change: statuses.append(change["new"]), names="status")
w""",
    """w.compute_examples(data, layers=["conv2"], k=3, batch_size=8, progress=False)
w.selected_filters = [1]
w.overlay = "grad_cam"
print(json.dumps(w.examples_summary["layers"]))""",
    'print(json.dumps([s["done"] for s in statuses if s and s["phase"] == "visualize"]))',
]


@pytest.fixture(scope="module")
def lab(browser: Any, jupyterlab: Any) -> Iterator[LabNotebook]:
    with open_lab_notebook(browser, jupyterlab, "card.ipynb", CELLS) as nb:
        yield nb


@pytest.fixture(autouse=True)
def _artifacts_on_failure(lab: LabNotebook, keep_artifacts: Any) -> Iterator[None]:
    yield
    keep_artifacts(lab.page)


def test_card_overlay_and_feature_visualisation_through_a_real_kernel(lab: LabNotebook) -> None:
    out = lab.outputs(0)
    out.locator('.fmw-root[data-ready="1"]').wait_for(state="visible", timeout=60_000)
    assert json.loads(lab.run_cell(1)) == {"conv2": {"channels": 5, "boxes": True}}
    # set from the notebook: the card opens with its 3 patches, Grad-CAM is drawn
    out.locator('.fmw-card[data-filter="1"] .fmw-card-examples[data-count="3"]').wait_for()
    assert out.locator("canvas.fmw-card-patch").count() == 3
    out.locator('canvas.fmw-heat[data-mode="grad_cam"]').wait_for(state="visible")
    assert out.locator(".fmw-overlay-mode").input_value() == "grad_cam"
    # the page records every progress it shows while the kernel ascends
    out.locator(".fmw-card-vis-status").evaluate(
        """(el) => { window.__fmwSeen = [];
            new MutationObserver(() => el.dataset.progress &&
                window.__fmwSeen.push(el.dataset.progress))
              .observe(el, {attributes: true}); }"""
    )
    out.locator(".fmw-card-vis-btn").click()
    out.locator('.fmw-card-vis[data-ready="1"]').wait_for(timeout=120_000)
    seen = lab.page.evaluate("() => window.__fmwSeen")
    kernel = json.loads(lab.run_cell(2))
    assert kernel and kernel[-1] == 40  # the kernel reported its steps
    assert seen and all(s.endswith("/40") for s in seen)  # and the page showed them live
    assert out.locator("canvas.fmw-card-vis-img").count() == 1
