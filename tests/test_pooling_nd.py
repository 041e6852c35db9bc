"""Pooling windows, max-pool winners and trace chains of 1-D and 3-D models, against Keras.

The windows come from Keras's own formula for each axis (``same`` splits the padding, the
extra cell after), the pooled values from Keras's own pooling layer, and the winners from
``np.argmax`` over the Keras window (the first maximum in row-major order); the trace is
checked step by step against a multi-output ``keras.Model`` and a linear clone of the fused
convolution (``test_trace_chain.Oracle``). None of them uses fmwidget's geometry.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from helpers import L
from test_trace_chain import Oracle

import fmwidget
from fmwidget import pooling
from fmwidget.geometry import same_padding
from fmwidget.trace import trace


def windows(n_in: int, pool: int, stride: int, padding: str) -> list[range]:
    """Keras's pooling windows along one axis, clipped to the map."""
    pad = same_padding(n_in, pool, stride) if padding == "same" else 0
    n_out = -(-n_in // stride) if padding == "same" else (n_in - pool) // stride + 1
    return [
        range(max(o * stride - pad, 0), min(o * stride - pad + pool, n_in)) for o in range(n_out)
    ]


def pool_net(dims: int, pool: tuple, strides: tuple, padding: str, size: tuple) -> keras.Model:
    conv = L.Conv1D if dims == 1 else L.Conv3D
    max_pool = L.MaxPooling1D if dims == 1 else L.MaxPooling3D
    inp = keras.Input((*size, 2))
    x = conv(3, 3, padding="same", activation="relu", name="conv")(inp)
    x = max_pool(pool, strides=strides, padding=padding, name="pool")(x)
    return keras.Model(inp, x)


CASES = [
    (1, (2,), (2,), "valid", (13,)),
    (1, (3,), (2,), "same", (14,)),
    (3, (2, 2, 2), (2, 2, 2), "valid", (8, 8, 8)),
    (3, (2, 3, 2), (1, 2, 2), "same", (5, 7, 6)),
]


@pytest.mark.parametrize(("dims", "pool", "strides", "padding", "size"), CASES)
def test_windows_and_winners_match_keras(dims, pool, strides, padding, size):
    model = pool_net(dims, pool, strides, padding, size)
    data = np.random.default_rng(dims).random((2, *size, 2)).astype("float32") - 0.5
    fm = fmwidget.extract(model, data)
    conv = fm["conv"]
    pooled = keras.ops.convert_to_numpy(model(data))
    assert (conv == 0).mean() > 0.2  # ReLU zeros make ties that exercise tie-breaking
    axes = [windows(n, p, s, padding) for n, p, s in zip(size, pool, strides, strict=True)]
    assert tuple(len(a) for a in axes) == pooled.shape[1:-1]
    for sample in range(2):
        argmax = pooling.pool_argmax(fm, "pool", sample)
        ties = pooling.pool_ties(fm, "pool", sample)
        shown = argmax[:, 0] if dims == 1 else argmax  # 1D maps are one row
        assert shown.shape == (3, *pooled.shape[1:-1])
        for out in itertools.product(*(range(len(a)) for a in axes)):
            rngs = [a[o] for a, o in zip(axes, out, strict=True)]
            assert fm.pool_window("pool", out) == tuple(slice(r.start, r.stop) for r in rngs)
            for ch in range(3):
                window = conv[(sample, *(slice(r.start, r.stop) for r in rngs), ch)]
                first = np.unravel_index(int(np.argmax(window)), window.shape)
                src = fm.pool_source("pool", out, ch, sample)
                assert src == tuple(r.start + f for r, f in zip(rngs, first, strict=True))
                assert conv[(sample, *src, ch)] == pooled[(sample, *out, ch)]  # Keras's max
                assert int(shown[(ch, *out)]) == int(np.argmax(window))  # row-major in window
        # ties: every cell equal to the winner of the first window that holds it
        for cell in itertools.product(*(range(n) for n in size)):
            held = [
                next((o for o, r in enumerate(a) if c in r), None)
                for a, c in zip(axes, cell, strict=True)
            ]
            for ch in range(3):
                tie = ties[(ch, 0, *cell)] if dims == 1 else ties[(ch, *cell)]
                if None in held:
                    assert not tie
                else:
                    assert tie == (conv[(sample, *cell, ch)] == pooled[(sample, *held, ch)])


@pytest.mark.parametrize("dims", [1, 3])
def test_global_max_pool_source(dims):
    size = (17,) if dims == 1 else (4, 5, 6)
    layer = L.GlobalMaxPooling1D if dims == 1 else L.GlobalMaxPooling3D
    inp = keras.Input((*size, 3))
    model = keras.Model(inp, layer(name="g")(L.Activation("relu", name="act")(inp)))
    x = np.random.default_rng(0).random((*size, 3)).astype("float32") - 0.5
    fm = fmwidget.extract(model, x)
    pooled = keras.ops.convert_to_numpy(model(x[None]))[0]
    for ch in range(3):
        src = fm.pool_source("g", (), ch)
        assert fm["act"][(0, *src, ch)] == pooled[ch]
        assert src == np.unravel_index(int(np.argmax(fm["act"][0, ..., ch])), size)


def _pos(step: dict, dims: int) -> tuple[int, ...]:
    """A trace step's cell in the map's own axes."""
    if dims == 1:
        assert step["row"] == 0
        return (step["col"],)
    return (step["depth"], step["row"], step["col"])


def _box(box: dict, dims: int) -> tuple[slice, ...]:
    if dims == 1:
        assert (box["row0"], box["row1"]) == (0, 1)
        return (slice(box["col0"], box["col1"]),)
    return tuple(slice(box[f"{a}0"], box[f"{a}1"]) for a in ("depth", "row", "col"))


@pytest.mark.parametrize(("dims", "pool", "strides", "padding", "size"), CASES)
def test_trace_chain_conv_relu_pool_winner(dims, pool, strides, padding, size):
    """Every cell of the conv, traced: conv -> ReLU -> pool, the chain at the winner."""
    model = pool_net(dims, pool, strides, padding, size)
    x = np.random.default_rng(7).random((1, *size, 2)).astype("float32") - 0.4
    fm = fmwidget.extract(model, x)
    oracle = Oracle(model, x)
    counts = {"won": 0, "lost": 0, "none": 0}
    for ch in (0, 2):
        for pos in itertools.product(*(range(n) for n in size)):
            t = trace(fm, "conv", ch, pos)
            steps = t["steps"]
            assert _pos(t["clicked"], dims) == pos
            assert _box(t["receptive_field"], dims) == fm.receptive_field("conv", pos)
            kinds = [(s["layer"], s["kind"]) for s in steps]
            if kinds[-1][1] != "pooling":  # valid pooling dropped this cell
                assert not fm.cells_reading("pool", pos).any()
                counts["none"] += 1
                continue
            assert kinds == [("conv", "conv"), ("conv", "activation"), ("pool", "pooling")]
            pre, act, pl = steps
            out, src = _pos(pl, dims), _pos(pre, dims)
            assert _pos(act, dims) == src
            assert fm.cells_reading("pool", pos)[out]  # the pooled cell's window holds the click
            keras_window = oracle["conv"][(0, *_box(pl["window"], dims), ch)]
            first = np.unravel_index(int(np.argmax(keras_window)), keras_window.shape)
            winner = tuple(
                s.start + f for s, f in zip(_box(pl["window"], dims), first, strict=True)
            )
            assert _pos(pl["argmax"], dims) == winner == src
            assert pl["value"] == oracle["pool"][(0, *out, ch)] == act["value"]
            assert pre["value"] == pytest.approx(float(oracle["conv*"][(0, *src, ch)]), abs=1e-6)
            assert act["value"] == max(pre["value"], 0.0)
            for s in steps:
                assert _box(s["receptive_field"], dims) == fm.receptive_field(
                    s["layer"], _pos(s, dims)
                )
            counts["won" if src == pos else "lost"] += 1
            if src != pos:
                assert "so the steps before pool show" in t["note"]
            if dims == 1:  # the stepper's arithmetic is the winner's conv cell
                assert t["conv"]["total"] == pytest.approx(pre["value"], rel=1e-4, abs=1e-5)
    assert counts["won"] > 0 and counts["lost"] > 0
    # a cell lies in some window when each of its coordinates does (valid pooling drops the end)
    covered = [
        len(set().union(*windows(n, p, s, padding)))
        for n, p, s in zip(size, pool, strides, strict=True)
    ]
    assert counts["none"] == 2 * (int(np.prod(size)) - int(np.prod(covered)))


def test_three_d_trace_words_name_depth_row_col():
    model = pool_net(3, (2, 2, 2), (2, 2, 2), "valid", (4, 4, 4))
    x = np.random.default_rng(3).random((4, 4, 4, 2)).astype("float32") - 0.4
    fm = fmwidget.extract(model, x)
    for pos in itertools.product(range(4), repeat=3):
        t = trace(fm, "conv", 1, pos)
        src = _pos(t["steps"][-1]["argmax"], 3)
        if src != pos:
            d, r, c = pos
            assert t["note"].startswith(f"You clicked ({d}, {r}, {c}) of conv;"), t["note"]
            assert f"came from ({src[0]}, {src[1]}, {src[2]})" in t["note"]
            break
    else:
        pytest.fail("no cell lost its window")


def test_channels_first_volumes():
    """channels_first 3-D (TensorFlow's CPU runs it too): winners, argmax table and trace."""
    inp = keras.Input((2, 5, 6, 4))
    x = L.Conv3D(
        3, 3, padding="same", activation="relu", name="conv", data_format="channels_first"
    )(inp)
    x = L.MaxPooling3D(2, padding="same", name="pool", data_format="channels_first")(x)
    model = keras.Model(inp, x)
    data = np.random.default_rng(9).random((1, 2, 5, 6, 4)).astype("float32") - 0.4
    fm = fmwidget.extract(model, data)
    conv = np.moveaxis(fm["conv"], 1, -1)  # channels last, for the oracle's indexing
    pooled = np.moveaxis(keras.ops.convert_to_numpy(model(data)), 1, -1)
    axes = [windows(n, 2, 2, "same") for n in (5, 6, 4)]
    argmax = pooling.pool_argmax(fm, "pool")
    assert argmax.shape == (3, 3, 3, 2)
    for out in itertools.product(*(range(len(a)) for a in axes)):
        rngs = [a[o] for a, o in zip(axes, out, strict=True)]
        for ch in range(3):
            window = conv[(0, *(slice(r.start, r.stop) for r in rngs), ch)]
            src = fm.pool_source("pool", out, ch)
            first = np.unravel_index(int(np.argmax(window)), window.shape)
            assert src == tuple(r.start + f for r, f in zip(rngs, first, strict=True))
            assert conv[(0, *src, ch)] == pooled[(0, *out, ch)]
            assert int(argmax[(ch, *out)]) == int(np.argmax(window))
            t = trace(fm, "pool", ch, out)
            assert [s["kind"] for s in t["steps"]] == ["conv", "activation", "pooling"]
            assert (
                _pos(t["steps"][0], 3) == src and t["steps"][-1]["value"] == pooled[(0, *out, ch)]
            )
