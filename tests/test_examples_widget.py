"""Top examples in the widget: the synced summary and the ``get_examples`` replies."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
from helpers import small_cnn

import fmwidget
from fmwidget.messages import MAX_ERROR_CHARS

L = keras.layers


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(5)
    model = small_cnn()
    x = np.random.default_rng(5).random((40, 16, 16, 3), dtype=np.float32)
    ex = fmwidget.top_examples(model, x, layers=["conv1", "conv2"], k=4, progress=False)
    w = fmwidget.FeatureMapWidget(model, x[0], examples=ex)
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return model, x, ex, w


def ask(w, content):
    before = len(w.sent)
    w._handle_custom_msg(content, [])
    return w.sent[before:]


def one_error(replies, pattern):
    assert len(replies) == 1, replies
    reply, buffers = replies[0]
    assert reply["type"] == "error" and not buffers, reply
    json.dumps(reply, allow_nan=False)
    assert len(reply["message"]) <= MAX_ERROR_CHARS
    assert re.search(pattern, reply["message"]), reply["message"]


def test_summary_says_which_layers_have_examples(setup):
    _, _, ex, w = setup
    summary = w.examples_summary
    assert set(summary["layers"]) == {"conv1", "conv2"}
    assert summary["layers"]["conv2"] == {"channels": 8, "boxes": True}
    assert summary["k"] == 4 and summary["num_samples"] == 40 and summary["has_samples"]
    json.dumps(summary, allow_nan=False)
    assert w.examples is ex


def test_get_examples_sends_numbers_and_float16_patches(setup):
    _, _, ex, w = setup
    ((reply, buffers),) = ask(
        w, {"type": "get_examples", "layer": "conv2", "channel": 3, "request_id": 9}
    )
    assert reply["type"] == "examples" and reply["request_id"] == 9
    assert reply["version"] == w.data_version and reply["k"] == 4
    np.testing.assert_array_equal(reply["values"], ex.values("conv2")[3])
    np.testing.assert_array_equal(reply["indices"], ex.indices("conv2")[3])
    np.testing.assert_array_equal(reply["positions"], ex.positions("conv2")[3])
    np.testing.assert_array_equal(reply["boxes"], ex.boxes("conv2")[3])
    assert len(buffers) == 4 == len(reply["patches"])
    for meta, data, want in zip(reply["patches"], buffers, ex.patches("conv2", 3), strict=True):
        assert meta["dtype"] == "float16" and meta["layout"] == "hwc"
        got = np.frombuffer(data, np.float16).reshape(meta["shape"])
        np.testing.assert_array_equal(got, want.astype(np.float16))
    json.dumps(reply, allow_nan=False)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ({"layer": "pool1", "channel": 0}, r"No top examples for layer 'pool1'.*compute_examples"),
        ({"layer": "conv2", "channel": 8}, r"channel in range\(0, 8\), received 8"),
        ({"layer": "conv2", "channel": True}, r"Expected an int channel"),
        ({"layer": "conv2"}, r"Expected an int channel, received None"),
        ({"layer": 3, "channel": 0}, r"Expected a layer name"),
    ],
)
def test_bad_examples_requests_get_an_error(setup, content, pattern):
    _, _, _, w = setup
    one_error(ask(w, {"type": "get_examples", "request_id": 1, **content}), pattern)


def test_examples_of_another_model_are_refused(setup):
    _, x, ex, w = setup
    other = keras.Sequential([keras.Input((16, 16, 3)), L.Conv2D(2, 3, name="conv9")])
    wrong = fmwidget.top_examples(other, x[:5], k=2, progress=False)
    with pytest.raises(ValueError, match=r"layer 'conv9', which this model lacks"):
        w.examples = wrong
    assert w.examples is ex and set(w.examples_summary["layers"]) == {"conv1", "conv2"}
    with pytest.raises(TypeError, match=r"Expected fmwidget\.TopExamples"):
        w.examples = {"conv1": 1}


def test_compute_examples_reports_status_and_keeps_the_result(setup):
    model, x, _, _ = setup
    w = fmwidget.FeatureMapWidget(model, x[0])
    assert w.examples is None and w.examples_summary is None
    one_error(ask_local(w, "conv1"), r"No top examples for layer 'conv1'")
    statuses = []
    w.observe(lambda change: statuses.append(change["new"]), names="status")
    ex = w.compute_examples(x, layers="conv1", k=2, batch_size=16, progress=False)
    assert w.examples is ex and list(w.examples_summary["layers"]) == ["conv1"]
    phases = [s for s in statuses if s]
    assert phases and all(s["phase"] == "examples" for s in phases)
    assert phases[0]["total"] == 40 and statuses[-1] is None
    w.examples = None
    assert w.examples_summary is None


def ask_local(w, layer):
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return ask(w, {"type": "get_examples", "layer": layer, "channel": 0})


def test_static_export_carries_the_examples(setup, tmp_path):
    from test_export import _blob, _manifest, _parse

    _, _, ex, w = setup
    report = w.save_html(tmp_path / "maps.html")
    tags = _parse(report.path.read_text(encoding="utf-8"))
    manifest = _manifest(tags)
    assert manifest["state"]["examples_summary"] == w.examples_summary
    entries = manifest["examples"]
    assert list(entries) == ex.layers and len(entries["conv2"]) == 8
    entry = entries["conv2"][5]
    assert entry["header"]["indices"] == ex.indices("conv2")[5].tolist()
    for ref, meta, want in zip(
        entry["patches"], entry["header"]["patches"], ex.patches("conv2", 5), strict=True
    ):
        got = np.frombuffer(_blob(tags, ref), np.float16).reshape(meta["shape"])
        np.testing.assert_array_equal(got, want.astype(np.float16))
