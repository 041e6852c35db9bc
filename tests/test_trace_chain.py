"""The trace chain follows the cell that fed the pooled value, checked against Keras.

Clicking a cell that lost its max-pool window must not show the clicked cell's conv and
activation values next to a pooled value that came from elsewhere: every step before the
pooling layer shows the winner, and ``clicked`` / ``note`` say where the click was. The
numbers are checked against an independent Keras oracle: one multi-output ``keras.Model`` over
the layers' outputs, and each fused convolution recomputed by a linear clone of it.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget.trace import trace


class Oracle(dict):
    """Keras's own maps: every layer's output from one multi-output ``keras.Model``, and
    ``name*``, a fused convolution's pre-activation from a linear clone (made on first use)."""

    def __init__(self, model: keras.Model, x: np.ndarray):
        layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
        outs = keras.Model(model.input, [la.output for la in layers])(x, training=False)
        super().__init__(
            {la.name: keras.ops.convert_to_numpy(o) for la, o in zip(layers, outs, strict=True)}
        )
        self.model, self.x = model, x

    def __missing__(self, key: str) -> np.ndarray:
        la = self.model.get_layer(key.removesuffix("*"))
        clone = type(la).from_config({**la.get_config(), "activation": "linear"})
        src = keras.Model(self.model.input, la.input)(self.x, training=False)
        clone.build(src.shape)
        clone.set_weights(la.get_weights())
        self[key] = keras.ops.convert_to_numpy(clone(src))
        return self[key]


def _at(arr: np.ndarray, ch: int, row: int, col: int, rank: int) -> float:
    """A channels_last map's value at a displayed (row, col) cell (1D maps are one row)."""
    return float(arr[0, col, ch] if rank == 1 else arr[0, row, col, ch])


def _window(arr: np.ndarray, ch: int, w: dict[str, int], rank: int) -> np.ndarray:
    if rank == 1:
        return arr[0, w["col0"] : w["col1"], ch][None]
    return arr[0, w["row0"] : w["row1"], w["col0"] : w["col1"], ch]


def check_chain(fm: Any, keras_maps: dict[str, np.ndarray], layer: str, ch: int, pos: tuple):
    """Trace one cell and check every number on the chain; returns which case it was."""
    rank = len(pos)
    shown = (0, pos[0]) if rank == 1 else pos
    t = trace(fm, layer, ch, pos)
    steps = t["steps"]

    def fm_value(s: dict[str, Any]) -> float:
        pre = bool(s.get("pre_activation"))
        arr = fm.pre_activation(s["layer"]) if pre else fm[s["layer"]]
        want = _at(keras_maps[s["layer"] + ("*" if pre else "")], ch, s["row"], s["col"], rank)
        got = _at(arr, ch, s["row"], s["col"], rank)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)  # fmwidget's map is Keras's
        return got

    clicked_value = _at(fm[layer], ch, *shown, rank)
    assert t["clicked"] == {
        "layer": layer,
        "filter": ch,
        "row": shown[0],
        "col": shown[1],
        "value": clicked_value,
    }
    for s in steps:
        assert s["filter"] == ch
        assert s["value"] == fm_value(s)  # each step: the float32 map value at its cell
    pool_at = [i for i, s in enumerate(steps) if s["kind"] == "pooling"]
    if not pool_at:
        assert all((s["row"], s["col"]) == shown for s in steps)
        if t["note"] is None:
            return "no pool"
        assert "no window of" in t["note"]
        return "no window"
    pool, before = steps[pool_at[-1]], steps[: pool_at[-1]]
    pooled = (pool["col"],) if rank == 1 else (pool["row"], pool["col"])
    assert fm.cells_reading(pool["layer"], pos)[pooled]  # its window holds the clicked cell
    src_name = fm.info(pool["layer"]).inputs[0]
    window = _window(keras_maps[src_name], ch, pool["window"], rank)
    pooled_keras = _at(keras_maps[pool["layer"]], ch, pool["row"], pool["col"], rank)
    if "argmax" not in pool:  # average pooling: the chain stays at the clicked cell
        assert all((s["row"], s["col"]) == shown for s in before)
        assert pooled_keras == pytest.approx(float(window.mean()), rel=1e-5, abs=1e-6)
        assert f"{pool['layer']} averages its window" in t["note"]
        return "average"
    win = (pool["argmax"]["row"], pool["argmax"]["col"])
    # pool value == max of the window == value at the winner == the value the step before shows
    assert pooled_keras == float(window.max())
    first = np.unravel_index(int(np.argmax(window == window.max())), window.shape)
    assert (pool["window"]["row0"] + first[0], pool["window"]["col0"] + first[1]) == win
    assert _at(keras_maps[src_name], ch, *win, rank) == pooled_keras
    assert all((s["row"], s["col"]) == win for s in before)
    assert before[-1]["value"] == pool["value"]
    conv_steps = [s for s in before if s["kind"] == "conv"]
    if conv_steps and t["conv"] is not None:  # the arithmetic is the winner's conv cell
        assert t["conv"]["layer"] == conv_steps[0]["layer"]
        assert t["conv"]["total"] == pytest.approx(conv_steps[0]["value"], rel=1e-4, abs=1e-5)
    holders = np.argwhere(fm.cells_reading(pool["layer"], pos))
    won_any = any(
        fm.pool_source(pool["layer"], tuple(int(v) for v in cell), ch) == pos for cell in holders
    )
    if win == shown:
        assert t["note"] is None if len(holders) == 1 else "is the max of pooled" in t["note"]
        return "won"
    assert not won_any  # a window the clicked cell wins is always preferred
    note = t["note"]
    assert note.startswith(f"You clicked ({shown[0]}, {shown[1]}) of {layer};"), note
    assert f"came from ({win[0]}, {win[1]}), so the steps before {pool['layer']}" in note
    ties = _at(keras_maps[src_name], ch, *shown, rank) == pooled_keras
    assert ("hold the same value" in note) == ties
    return "tie" if ties else "lost"


def sweep(model, x, layer: str, channels=None, size=None) -> dict[str, int]:
    """Check the trace of every cell (of the top-left ``size`` block) of ``channels``."""
    fm = fmwidget.extract(model, x)
    keras_maps = Oracle(model, x)
    info = fm.info(layer)
    counts: dict[str, int] = {}
    for ch in channels if channels is not None else range(info.channels):
        for pos in np.ndindex(*(size or info.spatial_shape)):
            case = check_chain(fm, keras_maps, layer, ch, pos)
            counts[case] = counts.get(case, 0) + 1
    return counts


def relu_pool_net(pool: keras.layers.Layer) -> keras.Model:
    keras.utils.set_random_seed(11)
    inp = keras.Input((12, 13, 2))
    x = L.Conv2D(3, 3, padding="same", name="conv")(inp)
    x = L.ReLU(name="relu")(x)
    return keras.Model(inp, pool(x))


def test_relu_cells_that_lost_their_window_show_the_winner_all_the_way():
    """The issue's case: valid 2x2 pooling; 13 columns leave the last one in no window."""
    model = relu_pool_net(L.MaxPooling2D(2, name="pool"))
    x = np.random.rand(1, 12, 13, 2).astype("float32") - 0.4
    counts = sweep(model, x, "relu")
    assert counts["won"] == 6 * 6 * 3  # one winner per window
    assert counts["lost"] > 50 and counts["tie"] > 0  # ReLU zeros tie
    assert counts["no window"] == 12 * 3  # column 12 is dropped by valid pooling
    counts = sweep(model, x, "conv", channels=[1])  # clicked on the conv: same rules
    assert counts["won"] == 36 and counts["lost"] > 0


def test_no_window_and_words():
    model = relu_pool_net(L.MaxPooling2D(2, name="pool"))
    fm = fmwidget.extract(model, np.random.rand(12, 13, 2).astype("float32"))
    t = trace(fm, "relu", 0, (3, 12))
    assert [s["layer"] for s in t["steps"]] == ["conv", "relu"]
    assert t["note"] == (
        "You clicked (3, 12) of relu; no window of pool holds it, so nothing was pooled from it."
    )


def test_overlapping_windows_prefer_one_the_cell_wins_through_a_fused_relu():
    keras.utils.set_random_seed(12)
    inp = keras.Input((11, 11, 2))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c")(inp)
    model = keras.Model(inp, L.MaxPooling2D(3, strides=2, padding="same", name="p")(x))
    x = np.random.rand(1, 11, 11, 2).astype("float32") - 0.3
    counts = sweep(model, x, "c")
    assert counts["won"] > 0 and counts["lost"] > 0
    fm = fmwidget.extract(model, x)
    # a cell in 4 windows that wins none: the first window is shown, and said so
    for ch, r, c in np.ndindex(4, 11, 11):
        holders = np.argwhere(fm.cells_reading("p", (r, c)))
        if len(holders) == 4 and all(
            fm.pool_source("p", tuple(int(v) for v in h), ch) != (r, c) for h in holders
        ):
            break
    else:
        pytest.fail("no cell in four windows that wins none")
    t = trace(fm, "c", int(ch), (int(r), int(c)))
    first = tuple(int(v) for v in holders[0])
    assert (t["steps"][-1]["row"], t["steps"][-1]["col"]) == first
    assert "lies in 4 windows of p and is the max of none" in t["note"]
    assert f"the first, pooled cell ({first[0]}, {first[1]})" in t["note"]
    kinds = [(s["layer"], s["kind"]) for s in t["steps"]]
    assert kinds == [("c", "conv"), ("c", "activation"), ("p", "pooling")]


def test_average_pooling_keeps_the_clicked_cell_and_says_it_averages():
    model = relu_pool_net(L.AveragePooling2D(2, padding="same", name="pool"))
    x = np.random.rand(1, 12, 13, 2).astype("float32")
    counts = sweep(model, x, "relu", channels=[0, 2])
    assert counts == {"average": 12 * 13 * 2}
    fm = fmwidget.extract(model, x)
    t = trace(fm, "pool", 1, (2, 6))  # the pooled cell itself: no single source
    assert [s["layer"] for s in t["steps"]] == ["pool"]
    assert t["note"].startswith("pool averages its window: pooled cell (2, 6) is the mean")


def test_one_dimensional_maps():
    keras.utils.set_random_seed(13)
    inp = keras.Input((29, 2))
    x = L.Conv1D(3, 3, name="conv")(inp)
    x = L.Activation("relu", name="act")(x)
    model = keras.Model(inp, L.MaxPooling1D(3, strides=2, name="pool")(x))
    x = np.random.rand(1, 29, 2).astype("float32") - 0.4
    counts = sweep(model, x, "act")
    assert counts["won"] > 0 and counts["lost"] > 0 and counts["tie"] > 0


@pytest.mark.slow  # building VGG16's 14.7 M weights takes ~12 s on JAX
def test_vgg16_first_block():
    """A real architecture: block1_conv2 (fused ReLU) into block1_pool."""
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    yy, xx = np.mgrid[:32, :32].astype("float32")
    img = np.stack([np.sin(yy / 4 + k) * np.cos(xx / 5 - k) for k in range(3)], -1) * 0.5 + 0.5
    counts = sweep(model, img[None], "block1_conv2", channels=[0, 37], size=(8, 10))
    assert counts["won"] == 4 * 5 * 2 and counts["lost"] + counts.get("tie", 0) == 120
    counts = sweep(model, img[None], "block2_conv1", channels=[5], size=(2, 3))
    assert counts == {"no pool": 6}  # followed by another conv: the chain ends there
