"""Size and lifecycle: layers over 64 MiB travel in channel-range parts (one channel over
64 MiB in row-range parts); ``set_input`` while
requests are in flight never mixes inputs; creating and closing 100 widgets leaks nothing."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import keras
import numpy as np
import pytest
from helpers import L, small_cnn

import fmwidget
from fmwidget import encode
from fmwidget.encode import decode_map, encode_map, split_channels

MiB = 2**20


def capture(w):
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def assemble(parts):
    """The browser's reassembly: each part's channel and row range, in place, in any order."""
    first = parts[0][0]
    out = np.full((first["channels"], first["height"], first["width"]), np.nan, "float32")
    for header, payload in reversed(parts):
        c0, c1 = header.get("channel_start", 0), header.get("channel_stop", header["channels"])
        r0, r1 = header.get("row_start", 0), header.get("row_stop", header["height"])
        out[c0:c1, r0:r1] = decode_map(header, bytes(payload))
    return out


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_split_channels_parts_reassemble_exactly(data_format):
    values = np.random.default_rng(0).normal(size=(5, 7, 11)).astype("float32")
    header, payload = encode_map(values, data_format)
    whole = decode_map(header, bytes(payload))
    parts = list(split_channels(header, payload, max_bytes=5 * 7 * 2 * 3))
    assert [p[0]["chunk"] for p in parts] == list(range(len(parts)))
    channels = 11 if data_format == "channels_last" else 5
    per = 3 if data_format == "channels_last" else 1  # one 5x7 / 7x11 channel per 70 bytes
    assert len(parts) == -(-channels // per)
    assert all(len(bytes(p)) <= 5 * 7 * 2 * 3 for _, p in parts)
    assert all(h["chunks"] == len(parts) for h, _ in parts)
    np.testing.assert_array_equal(assemble(parts), whole)
    assert list(split_channels(header, payload)) == [(header, payload)]  # small: one message


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_a_channel_over_the_limit_travels_in_row_ranges(data_format):
    values = np.random.default_rng(1).normal(size=(2, 40, 40)).astype("float32")
    values[1, 17, 3] = np.nan
    values[0, 39, 39] = -np.inf
    if data_format == "channels_last":
        values = np.moveaxis(values, 0, -1)
    header, payload = encode_map(values, data_format)
    whole = decode_map(header, bytes(payload))
    parts = list(split_channels(header, payload, max_bytes=1000))  # 12 rows of 40 per part
    keys = ("channel_start", "channel_stop", "row_start", "row_stop")
    blocks = [tuple(h[k] for k in keys) for h, _ in parts]
    rows = [(0, 12), (12, 24), (24, 36), (36, 40)]
    assert blocks == [(ch, ch + 1, r0, r1) for ch in range(2) for r0, r1 in rows]
    assert [h["chunk"] for h, _ in parts] == list(range(8))
    assert all(h["chunks"] == 8 and h["height"] == 40 for h, _ in parts)
    assert all(len(bytes(p)) <= 1000 for _, p in parts)
    np.testing.assert_array_equal(assemble(parts), whole)  # NaN and -Inf in place too


def test_a_single_row_over_the_limit_is_refused():
    header, payload = encode_map(np.zeros((2, 600, 2), "float32"), "channels_last")
    with pytest.raises(ValueError, match=r"at most 500 values per row, received a row of 600"):
        list(split_channels(header, payload, max_bytes=1000))


def test_widget_sends_one_big_channel_in_row_parts(monkeypatch):
    w = capture(fmwidget.FeatureMapWidget(small_cnn(), np.random.rand(16, 16, 3).astype("f4")))
    monkeypatch.setattr(encode, "MAX_MESSAGE_BYTES", 16 * 2 * 5)  # 5 of conv1's 16 rows
    w._handle_custom_msg({"type": "get_layer", "layer": "conv1", "request_id": 5}, [])
    parts = w.sent
    assert len(parts) == 6 * 4  # 6 channels x row ranges [0,5) [5,10) [10,15) [15,16)
    rows = {(h["row_start"], h["row_stop"]) for h, _ in parts}
    assert rows == {(0, 5), (5, 10), (10, 15), (15, 16)}
    assert all(len(bytes(b[0])) <= 16 * 2 * 5 for _, b in parts)
    assert all(h["request_id"] == 5 and h["version"] == w.data_version for h, _ in parts)
    want = np.moveaxis(w.fm["conv1"][0], -1, 0)
    np.testing.assert_allclose(assemble([(h, b[0]) for h, b in parts]), want, rtol=2**-11)


def test_widget_sends_big_layers_in_parts(monkeypatch):
    w = capture(fmwidget.FeatureMapWidget(small_cnn(), np.random.rand(16, 16, 3).astype("f4")))
    monkeypatch.setattr(encode, "MAX_MESSAGE_BYTES", 16 * 16 * 2 * 4)  # 4 of conv1's 6 maps
    w._handle_custom_msg({"type": "get_layer", "layer": "conv1", "request_id": 3}, [])
    parts = w.sent
    assert [(h["chunk"], h["channel_start"], h["channel_stop"]) for h, _ in parts] == [
        (0, 0, 4),
        (1, 4, 6),
    ]
    assert all(h["request_id"] == 3 and h["version"] == w.data_version for h, _ in parts)
    want = np.moveaxis(w.fm["conv1"][0], -1, 0)
    np.testing.assert_allclose(assemble([(h, b[0]) for h, b in parts]), want, rtol=2**-11)
    w.sent.clear()
    w._handle_custom_msg({"type": "get_layer", "layer": "pool2", "request_id": 4}, [])
    assert len(w.sent) == 1 and "chunk" not in w.sent[0][0]  # small layers: one message


def test_1024_input_on_a_vgg_like_model_stays_under_64_mib_per_message():
    inp = keras.Input((1024, 1024, 3))
    x = L.Conv2D(64, 3, padding="same", activation="relu", name="block1_conv1")(inp)
    x = L.MaxPooling2D(4, name="block1_pool")(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="block2_conv1")(x)
    x = L.MaxPooling2D(4, name="block2_pool")(x)
    model = keras.Model(inp, x, name="vgg_like")
    image = np.random.default_rng(0).random((1024, 1024, 3)).astype("float32")
    w = capture(fmwidget.FeatureMapWidget(model, image))
    tracemalloc.start()
    try:
        w._handle_custom_msg({"type": "get_layer", "layer": "block1_conv1", "request_id": 1}, [])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    layer_f16 = 1024 * 1024 * 64 * 2  # 128 MiB
    sizes = [sum(memoryview(b).nbytes for b in bufs) for _, bufs in w.sent]
    # 2 MiB channels: the first part is one channel (at least 256 KiB), then parts double up
    # to the 64 MiB cap; the ReLU map's parts travel packed (nonzero mask + values)
    ranges = [(h["channel_start"], h["channel_stop"]) for h, _ in w.sent]
    assert ranges == [(0, 1), (1, 3), (3, 7), (7, 15), (15, 31), (31, 63), (63, 64)]
    assert max(sizes) <= 64 * MiB and sum(sizes) < layer_f16
    assert {h["encoding"] for h, _ in w.sent} <= {"float16", "float16_nonzero"}
    assert peak < 6 * layer_f16, f"{peak / MiB:.0f} MiB for a {layer_f16 / MiB:.0f} MiB layer"
    # exact values are all there (the hover readout): spot-check reassembled cells
    parts = [(h, bufs[0]) for h, bufs in w.sent]
    got = assemble(parts)
    rng = np.random.default_rng(1)
    want = w.fm["block1_conv1"][0]
    for r, c, f in zip(*(rng.integers(0, n, 200) for n in (1024, 1024, 64)), strict=True):
        assert got[f, r, c] == pytest.approx(want[r, c, f], rel=2**-10, abs=1e-4)
    del got, parts
    w.sent.clear()


def test_set_input_while_requests_are_in_flight_never_mixes_inputs():
    w = capture(fmwidget.FeatureMapWidget(small_cnn(), np.zeros((16, 16, 3), "float32")))
    old = w.data_version
    x = np.random.rand(16, 16, 3).astype("float32")
    w.set_input(x)  # the browser's request below was sent before it saw the new version
    w._handle_custom_msg(
        {"type": "get_layer", "layer": "input", "version": old, "request_id": 1}, []
    )
    reply, bufs = w.sent[-1]
    # the reply is labelled with the version its values belong to (the browser drops others)
    assert reply["version"] == w.data_version == old + 1
    np.testing.assert_allclose(decode_map(reply, bytes(bufs[0])), np.moveaxis(x, -1, 0), 2**-11)


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_creating_and_closing_100_widgets_leaks_nothing():
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), L.Conv2D(2, 3, name="c"), L.MaxPooling2D(2, name="p")]
    )
    x = np.random.rand(8, 8, 1).astype("float32")

    def cycle(n):
        refs = []
        for _ in range(n):
            w = fmwidget.FeatureMapWidget(model, x)
            w._handle_custom_msg({"type": "get_layer", "layer": "c", "request_id": 1}, [])
            w.close()
            refs.append(weakref.ref(w))
            del w
        gc.collect()
        return refs

    cycle(10)  # warm-up: backend caches, compiled kernels
    tracemalloc.start()
    try:
        base_traced = tracemalloc.get_traced_memory()[0]
        rss = _rss_mib()
        refs = cycle(100)
        grown = tracemalloc.get_traced_memory()[0] - base_traced
    finally:
        tracemalloc.stop()
    assert sum(r() is not None for r in refs) == 0  # every widget was freed
    assert grown < 100 * 20_000, f"{grown / 1e3:.0f} kB kept by 100 closed widgets"
    assert _rss_mib() <= rss * 1.10, (rss, _rss_mib())
