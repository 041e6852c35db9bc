"""Progress while ``set_input`` computes: the ``status`` trait rises through the forward pass
(one report per layer call, throttled) and the per-layer summaries, then is cleared."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget import widget as widget_module

PHASES = ("forward", "layers")


def five_layers() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            L.Conv2D(2, 3, activation="relu", name="c1"),
            L.Conv2D(2, 3, name="c2"),
            L.ReLU(name="r2"),
            L.MaxPooling2D(2, name="p"),
            L.Conv2D(3, 2, name="c3"),
        ],
        name="five",
    )


def record(w: fmwidget.FeatureMapWidget) -> list:
    seen: list = []
    w.observe(lambda change: seen.append(change["new"]), names="status")
    return seen


def test_status_rises_during_set_input_and_ends_cleared(monkeypatch):
    monkeypatch.setattr(widget_module, "STATUS_INTERVAL_S", 0.0)  # report every layer call
    w = fmwidget.FeatureMapWidget(five_layers(), np.random.rand(12, 12, 1).astype("f4"))
    assert w.status is None
    sent: list = []
    send_state = w.send_state

    def spy(key=None):
        sent.append({key} if isinstance(key, str) else set(key or ()))
        send_state(key)

    monkeypatch.setattr(w, "send_state", spy)
    seen = record(w)
    w.set_input(np.random.rand(12, 12, 1).astype("f4"))
    assert seen[-1] is None and None not in seen[:-1]
    steps = seen[:-1]
    # phases in order, and within each phase done rises by one up to total
    order = [PHASES.index(s["phase"]) for s in steps]
    assert order == sorted(order) and set(order) == {0, 1}
    forward = [(s["done"], s["total"]) for s in steps if s["phase"] == "forward"]
    assert forward == [(k, 5) for k in range(6)]  # 5 layer calls
    layers = [(s["done"], s["total"]) for s in steps if s["phase"] == "layers"]
    assert layers == [(k, 6) for k in range(6)]  # input + 5 layers summarised
    # each change went to the browser as it happened (not held until the end)
    assert sent.count({"status"}) == len(seen)
    layers_sent = next(k for k, keys in enumerate(sent) if "layers" in keys)
    assert sent[:layers_sent] == [{"status"}] * len(seen)  # cleared before the new maps


def test_status_is_throttled(monkeypatch):
    monkeypatch.setattr(widget_module, "STATUS_INTERVAL_S", 3600.0)
    w = fmwidget.FeatureMapWidget(five_layers(), np.random.rand(12, 12, 1).astype("f4"))
    seen = record(w)
    w.set_input(np.random.rand(12, 12, 1).astype("f4"))
    # only the first report of each phase gets through, then the clear
    assert seen == [
        {"phase": "forward", "done": 0, "total": 5},
        {"phase": "layers", "done": 0, "total": 6},
        None,
    ]


class FailsWhenArmed(L.Layer):
    armed = False

    def call(self, x):
        if FailsWhenArmed.armed:
            raise RuntimeError("boom")
        return x


def test_status_is_cleared_when_the_forward_pass_fails(monkeypatch):
    monkeypatch.setattr(widget_module, "STATUS_INTERVAL_S", 0.0)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), L.Conv2D(2, 3), FailsWhenArmed(), L.Conv2D(1, 3)]
    )
    w = fmwidget.FeatureMapWidget(model, np.zeros((8, 8, 1), "f4"))
    version, fm = w.data_version, w.fm
    seen = record(w)
    monkeypatch.setattr(FailsWhenArmed, "armed", True)
    with pytest.raises(RuntimeError, match="boom"):
        w.set_input(np.ones((8, 8, 1), "f4"))
    assert seen == [
        {"phase": "forward", "done": 0, "total": 3},
        {"phase": "forward", "done": 1, "total": 3},
        None,
    ]
    assert w.status is None and w.data_version == version and w.fm is fm


def test_status_from_the_browser_is_validated():
    w = fmwidget.FeatureMapWidget(five_layers(), np.random.rand(12, 12, 1).astype("f4"))
    sent: list = []
    w.send = lambda content, buffers=None: sent.append(content)
    w.set_state({"status": {"phase": "<b>", "done": 1, "total": 2}})
    assert w.status is None
    assert sent and sent[0]["type"] == "error" and "Expected status None" in sent[0]["message"]
    w.set_state({"status": {"phase": "forward", "done": 3, "total": 2}})
    assert w.status is None
    w.set_state({"status": {"phase": "layers", "done": 1, "total": 2}})  # well-formed: kept
    assert w.status == {"phase": "layers", "done": 1, "total": 2}
