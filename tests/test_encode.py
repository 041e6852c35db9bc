"""The wire encoding of feature maps: float16, the nonzero mask packing of mostly-zero parts,
and the progressive parts a layer travels in. Every round trip is bit-exact."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import small_cnn

import fmwidget
from fmwidget import encode
from fmwidget.encode import (
    WireFormat,
    decode_map,
    encode_map,
    layer_parts,
    pack_nonzero,
    part_blocks,
    unpack_nonzero,
)

SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 6e-8, -6e-8, 1000.0], "float32")


def bits32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, "float32").view(np.uint32)


def relu_map(shape: tuple[int, ...], seed: int, zeros: float = 0.6) -> np.ndarray:
    """Values like a ReLU map's: about ``zeros`` of them exactly 0, plus every special value."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=shape).astype("float32")
    values[rng.random(shape) < zeros] = 0.0
    flat = values.reshape(-1)
    flat[rng.choice(flat.size, SPECIALS.size, replace=False)] = SPECIALS
    return values


def assemble(parts: list[tuple[dict, memoryview]]) -> np.ndarray:
    """What the browser holds once every part is in: (C, H, W) float32, in place."""
    first = parts[0][0]
    out = np.full((first["channels"], first["height"], first["width"]), 7.0, "float32")
    for header, payload in parts:
        c0, c1 = header.get("channel_start", 0), header.get("channel_stop", header["channels"])
        r0, r1 = header.get("row_start", 0), header.get("row_stop", header["height"])
        out[c0:c1, r0:r1] = decode_map(header, bytes(payload))
    return out


def test_every_float16_bit_pattern_round_trips_through_the_nonzero_mask():
    patterns = np.arange(65536, dtype="<u2")
    half = np.zeros(3 * 65536, "<u2")
    half[::3] = patterns  # two zeros per value: the packed form is smaller
    packed = pack_nonzero(half.view("<f2"))
    assert packed is not None
    buffer, nonzero = packed
    assert nonzero == 65535  # every pattern but +0.0 (-0.0 and NaNs count as nonzero)
    assert buffer.size == 3 * 65536 // 8 + 2 * nonzero
    got = unpack_nonzero(buffer, half.size, nonzero)
    np.testing.assert_array_equal(got.view("<u2"), half)


@pytest.mark.parametrize("n", [7, 8, 9, 63, 64, 65, 1001])
def test_mask_padding_keeps_values_aligned_at_any_length(n):
    half = np.zeros(n, "<f2")
    half[n // 2] = -0.0
    buffer, nonzero = pack_nonzero(half)
    assert nonzero == 1 and (buffer.size - 2) % 8 == 0
    np.testing.assert_array_equal(unpack_nonzero(buffer, n, 1).view("<u2"), half.view("<u2"))
    assert pack_nonzero(half[:1]) is None  # 8 bytes of mask for one value: not worth it


def test_dense_parts_stay_plain_float16():
    dense = np.arange(1, 1001, dtype="float32").astype("<f2")  # no zeros: packing is larger
    assert pack_nonzero(dense) is None
    assert pack_nonzero(np.zeros(0, "<f2")) is None
    nearly = dense.copy()
    nearly[:62] = 0  # 938 of 1000 nonzero: 128 + 1876 bytes >= 2000: not worth it
    assert pack_nonzero(nearly) is None
    nearly[:70] = 0  # 930 nonzero: 128 + 1860 < 2000
    assert pack_nonzero(nearly) is not None


def test_unpack_refuses_a_payload_that_does_not_match_its_header():
    buffer, nonzero = pack_nonzero(np.array([0, 1, 0, 0, 2, 0, 0, 0, 0, 3], "<f2"))
    assert nonzero == 3 and np.array_equal(unpack_nonzero(buffer, 10, 3)[[1, 4, 9]], [1, 2, 3])
    with pytest.raises(ValueError, match="Expected 14 bytes for 10 values with 3 nonzero"):
        unpack_nonzero(buffer[:-2], 10, 3)
    with pytest.raises(ValueError, match="Expected 2 nonzero values in the mask, found 3"):
        unpack_nonzero(buffer[:-2], 10, 2)


def test_part_plan_first_screenful_then_doubling_under_the_cap():
    vgg = (64, 224, 224)  # block1_conv1: 98 KiB per channel, so 2 fit in FIRST_PART_BYTES
    assert [b[:2] for b in part_blocks(*vgg, 12, 64 << 20, True)] == [
        (0, 2),
        (2, 6),
        (6, 14),
        (14, 30),
        (30, 62),
        (62, 64),
    ]
    assert part_blocks(*vgg, 1, 64 << 20, True)[:2] == [(0, 1, 0, 224), (1, 3, 0, 224)]
    assert part_blocks(*vgg, None, 64 << 20, True)[0] == (0, 2, 0, 224)
    assert part_blocks(*vgg, 12, 64 << 20, False) == [(0, 64, 0, 224)]  # the old format
    assert part_blocks(512, 14, 14, 8, 64 << 20, True) == [(0, 512, 0, 14)]  # 196 KiB: one
    small = (64, 56, 56)  # 6 KiB per channel: the screenful fits the first part's bytes
    assert [b[:2] for b in part_blocks(*small, 20, 64 << 20, True)] == [(0, 20), (20, 60), (60, 64)]
    cap = 224 * 224 * 2 * 5  # five channels per message at most
    assert [b[:2] for b in part_blocks(*vgg, 4, cap, True)] == [
        (0, 2),
        (2, 6),
        *((c, min(64, c + 5)) for c in range(6, 64, 5)),
    ]
    rows = part_blocks(2, 40, 40, 1, 1000, True)  # a channel over the cap: row ranges
    assert rows == [(ch, ch + 1, r0, min(40, r0 + 12)) for ch in (0, 1) for r0 in (0, 12, 24, 36)]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("zeros", [0.0, 0.6, 0.97])
def test_parts_reassemble_bit_exactly(data_format, zeros, monkeypatch):
    monkeypatch.setattr(encode, "FIRST_PART_BYTES", 12 * 10 * 2 * 3)  # three channels
    chw = relu_map((9, 12, 10), seed=int(zeros * 100), zeros=zeros)
    values = np.moveaxis(chw, 0, -1) if data_format == "channels_last" else chw
    header, payload = encode_map(values, data_format)
    whole = decode_map(header, bytes(payload))
    parts = list(layer_parts(header, payload, first_channels=2))
    ranges = [(h["channel_start"], h["channel_stop"]) for h, _ in parts]
    assert ranges == [(0, 2), (2, 6), (6, 9)]
    encodings = {h["encoding"] for h, _ in parts}
    assert encodings == ({"float16"} if zeros == 0.0 else {"float16_nonzero"})
    if zeros:
        assert sum(len(p) for _, p in parts) < len(payload)
    np.testing.assert_array_equal(bits32(assemble(parts)), bits32(whole))
    np.testing.assert_array_equal(bits32(whole), bits32(chw.astype("<f2").astype("float32")))
    # the old format: one plain float16 message
    old = list(layer_parts(header, payload, 2, wire=WireFormat(progressive=False, sparse=False)))
    assert len(old) == 1 and old[0][0] == header and bytes(old[0][1]) == bytes(payload)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_row_range_parts_pack_and_reassemble_bit_exactly(data_format):
    chw = relu_map((2, 40, 40), seed=3)
    values = np.moveaxis(chw, 0, -1) if data_format == "channels_last" else chw
    header, payload = encode_map(values, data_format)
    parts = list(layer_parts(header, payload, first_channels=1, max_bytes=1000))
    assert [(h["channel_start"], h["row_start"], h["row_stop"]) for h, _ in parts] == [
        (ch, r0, min(40, r0 + 12)) for ch in range(2) for r0 in range(0, 40, 12)
    ]
    assert all(h["encoding"] == "float16_nonzero" for h, _ in parts)
    whole = decode_map(header, bytes(payload))
    np.testing.assert_array_equal(bits32(assemble(parts)), bits32(whole))


def test_scaled_maps_stay_exact():
    chw = relu_map((3, 8, 8), seed=4) * np.float32(1e30)  # scaled by a power of two
    header, payload = encode_map(chw, "channels_first")
    assert header["scale"] != 1.0
    parts = list(layer_parts(header, payload, first_channels=1, max_bytes=8 * 8 * 2))
    assert len(parts) == 3 and all(h["encoding"] == "float16_nonzero" for h, _ in parts)
    np.testing.assert_array_equal(
        bits32(assemble(parts)), bits32(decode_map(header, bytes(payload)))
    )


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_backend_cast_then_packing_is_bit_exact(data_format):
    """Maps big enough to be cast on the Keras backend keep NaN, ±Inf and -0.0 exactly."""
    chw = relu_map((16, 64, 80), seed=5)  # 81920 values >= SMALL_MAP_VALUES
    values = np.moveaxis(chw, 0, -1) if data_format == "channels_last" else chw
    assert values.size >= encode.SMALL_MAP_VALUES
    tensor = keras.ops.convert_to_tensor(values)
    header, payload = encode_map(values, data_format, tensor)
    want = values.astype("<f2")  # numpy's round-to-nearest-even cast
    got = np.frombuffer(payload, "<f2")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want.reshape(-1)))
    finite = ~np.isnan(want.reshape(-1))
    np.testing.assert_array_equal(got.view("<u2")[finite], want.reshape(-1).view("<u2")[finite])
    parts = list(layer_parts(header, payload, first_channels=3))
    np.testing.assert_array_equal(
        bits32(assemble(parts)), bits32(decode_map(header, bytes(payload)))
    )


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_widget_sends_the_first_screenful_first(data_format, monkeypatch):
    if data_format == "channels_first" and keras.backend.backend() == "tensorflow":
        pytest.skip("channels_first Conv2D has no CPU kernel on TensorFlow")
    monkeypatch.setattr(encode, "FIRST_PART_BYTES", 16 * 16 * 2 * 4)  # conv1: 4 of 6 maps
    shape = (16, 16, 3) if data_format == "channels_last" else (3, 16, 16)
    w = fmwidget.FeatureMapWidget(small_cnn(data_format), np.random.rand(*shape).astype("f4"))
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    w._handle_custom_msg(
        {"type": "get_layer", "layer": "conv1", "request_id": 4, "first_channels": 2}, []
    )
    parts = [(h, b[0]) for h, b in w.sent]
    assert [(h["chunk"], h["channel_start"], h["channel_stop"]) for h, _ in parts] == [
        (0, 0, 2),
        (1, 2, 6),
    ]
    assert all(h["request_id"] == 4 and h["chunks"] == 2 for h, _ in parts)
    maps = w.fm["conv1"][0]
    want = maps if data_format == "channels_first" else np.moveaxis(maps, -1, 0)
    np.testing.assert_array_equal(
        bits32(assemble(parts)), bits32(want.astype("<f2").astype("float32"))
    )
    w._handle_custom_msg({"type": "get_layer", "layer": "conv1", "first_channels": 0}, [])
    assert w.sent[-1][0]["type"] == "error"
    assert "Expected first_channels a positive int, received 0" in w.sent[-1][0]["message"]


def test_widget_pushes_the_shown_layers_first_part_when_made(monkeypatch):
    sent = []
    monkeypatch.setattr(
        fmwidget.FeatureMapWidget,
        "send",
        lambda self, content, buffers=None: sent.append((content, buffers)),
    )
    monkeypatch.setattr(encode, "FIRST_PART_BYTES", 16 * 16 * 2 * 4)  # conv1: 4 of 6 maps
    w = fmwidget.FeatureMapWidget(small_cnn(), np.random.rand(16, 16, 3).astype("f4"), view="grid")
    ((header, buffers),) = sent  # one message, unasked, before any request
    assert header["request_id"] is None and header["layer"] == w.layer == "conv1"
    assert (header["chunk"], header["chunks"], header["channel_stop"]) == (0, 2, 4)
    want = np.moveaxis(w.fm["conv1"][0][..., :4], -1, 0).astype("<f2").astype("float32")
    np.testing.assert_array_equal(bits32(decode_map(header, bytes(buffers[0]))), bits32(want))
    sent.clear()  # the old format pushes nothing
    monkeypatch.setattr(
        encode, "WIRE", WireFormat(progressive=False, sparse=False, push_first=False)
    )
    fmwidget.FeatureMapWidget(small_cnn(), np.random.rand(16, 16, 3).astype("f4"), view="grid")
    assert sent == []


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_volumes_travel_with_their_depth_slices_stacked_along_the_rows(data_format):
    """A 3-D map (D, H, W): ``height`` is one slice's, ``depth`` D; parts (channel ranges and
    row ranges over the D·H stacked rows) reassemble bit-exactly to (C, D, H, W)."""
    cdhw = relu_map((3, 5, 6, 7), seed=8)
    values = np.moveaxis(cdhw, 0, -1) if data_format == "channels_last" else cdhw
    header, payload = encode_map(values, data_format)
    assert (header["depth"], header["height"], header["width"], header["channels"]) == (5, 6, 7, 3)
    whole = decode_map(header, bytes(payload))
    assert whole.shape == (3, 5, 6, 7)
    np.testing.assert_array_equal(bits32(whole), bits32(cdhw.astype("<f2").astype("float32")))
    parts = list(layer_parts(header, payload, first_channels=1, max_bytes=4 * 7 * 2))
    assert {h["depth"] for h, _ in parts} == {5}
    assert max(h["row_stop"] for h, _ in parts) == 30  # rows over the stacked slices
    out = np.full((3, 30, 7), 7.0, "float32")
    for h, p in parts:
        out[h["channel_start"] : h["channel_stop"], h["row_start"] : h["row_stop"]] = decode_map(
            h, bytes(p)
        )
    np.testing.assert_array_equal(bits32(out.reshape(3, 5, 6, 7)), bits32(whole))
    # 2-D maps carry no depth (the browser's default is 1)
    assert "depth" not in encode_map(cdhw[:, 0], "channels_first")[0]
    with pytest.raises(ValueError, match="at most 3 spatial axes"):
        encode_map(np.zeros((2, 2, 2, 2, 2), "float32"), data_format)
