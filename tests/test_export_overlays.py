"""The static export's embedded Grad-CAM / saliency replies (fmwidget/export_overlays.py)."""

from __future__ import annotations

import keras
import numpy as np

from fmwidget import FeatureMapWidget, grad_cam, saliency
from fmwidget.export_overlays import embedded_overlays


def classifier() -> keras.Model:
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(4, name="head"),
        ]
    )


def test_top_class_and_class_index_are_embedded_as_the_kernel_sends_them() -> None:
    model = classifier()
    x = np.random.default_rng(0).uniform(0, 1, (1, 10, 10, 1)).astype("float32")
    w = FeatureMapWidget(model, x, class_index=2)
    blobs: list[bytes] = []
    entries = embedded_overlays(w, lambda b: blobs.append(bytes(b)) or {"blob": len(blobs) - 1})
    assert [(e["header"]["mode"], e["asked"]) for e in entries] == [
        ("grad_cam", None),
        ("grad_cam", 2),
        ("saliency", None),
        ("saliency", 2),
    ]
    top = int(np.argmax(keras.ops.convert_to_numpy(model(x, training=False))[0]))
    for e in entries:
        cls = top if e["asked"] is None else 2
        assert e["header"]["class_index"] == cls
        values = np.frombuffer(blobs[e["blob"]], np.float16).reshape(10, 10).astype(np.float32)
        fn = grad_cam if e["header"]["mode"] == "grad_cam" else saliency
        want = np.asarray(fn(model, x[0], class_index=cls), np.float32)
        want = want / want.max() if want.max() > 0 else want
        np.testing.assert_allclose(values, want, atol=1e-3)


def test_a_model_without_class_scores_embeds_none() -> None:
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c")])
    w = FeatureMapWidget(model, np.zeros((1, 8, 8, 1), "float32"))
    assert embedded_overlays(w, lambda b: {}) == []


def test_save_html_embeds_the_overlays_unless_asked_not_to(tmp_path) -> None:
    from test_export import _manifest, _parse

    x = np.random.default_rng(0).uniform(0, 1, (1, 10, 10, 1)).astype("float32")
    w = FeatureMapWidget(classifier(), x)
    full = w.save_html(tmp_path / "full.html")
    lean = w.save_html(tmp_path / "lean.html", overlays=False)
    modes = [e["header"]["mode"] for e in _manifest(_parse(full.path.read_text()))["overlays"]]
    assert modes == ["grad_cam", "saliency"]
    assert _manifest(_parse(lean.path.read_text()))["overlays"] == []
    assert lean.bytes < full.bytes
