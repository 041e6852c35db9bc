"""The overview's Python side: thumbnails on request, the per-layer links, the ``view`` trait."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import small_cnn

import fmwidget
from fmwidget.geometry import AxisMap
from fmwidget.overview import THUMB_CHANNELS, block_factor, block_mean
from fmwidget.replies import layer_reply

L = keras.layers
KINDS = {"w": "window", "t": "transpose", "u": "upsample", "a": "all"}


@pytest.fixture
def widget():
    x = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    w = fmwidget.FeatureMapWidget(small_cnn(), x)
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def ask(w, **content):
    w._on_msg(w, content, [])
    return w.sent[-1]


def decode(header, payload):
    n = header["channels"] * header["height"] * header["width"]
    start = header["offset"] * 2
    half = np.frombuffer(payload[start : start + 2 * n], "<f2").astype(np.float32)
    return (half * header["scale"]).reshape(header["channels"], header["height"], header["width"])


def naive_block_mean(m: np.ndarray, f: int) -> np.ndarray:
    """Loop over blocks: the mean of each f x f block (smaller at the far edges)."""
    c, h, w = m.shape
    out = np.zeros((c, -(-h // f), -(-w // f)), np.float64)
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            out[:, i, j] = m[:, i * f : (i + 1) * f, j * f : (j + 1) * f].mean(axis=(1, 2))
    return out


def test_view_trait_defaults_to_the_overview(widget):
    assert widget.view == "overview"
    widget.view = "grid"
    with pytest.raises(Exception, match="overview"):
        widget.view = "table"


def test_block_mean_matches_a_loop():
    m = np.random.default_rng(1).normal(size=(3, 23, 17)).astype(np.float32)
    for f in (1, 2, 4, 7):
        np.testing.assert_allclose(block_mean(m, f), naive_block_mean(m, f), rtol=1e-5, atol=1e-6)
    assert block_factor(224, 224, 32) == 7 and block_factor(24, 24, 32) == 1
    assert block_factor(33, 8, 32) == 2


def test_thumbs_reply_holds_the_first_maps_averaged(widget):
    reply, buffers = ask(
        widget, type="get_thumbs", layers=["conv1", "pool1", "head"], request_id=4, version=1
    )
    assert reply["type"] == "thumbs" and reply["request_id"] == 4
    assert reply["version"] == widget.data_version
    payload = bytes(buffers[0])
    by_name = {h["layer"]: h for h in reply["layers"]}
    conv1 = by_name["conv1"]
    full = np.moveaxis(widget.fm["conv1"][0], -1, 0)
    assert (conv1["channels"], conv1["height"], conv1["width"]) == (6, 16, 16)
    assert (conv1["factor"], conv1["src_height"], conv1["src_width"]) == (1, 16, 16)
    assert conv1["total"] == 6 and not conv1["vector"]
    np.testing.assert_allclose(decode(conv1, payload), full, rtol=2**-10, atol=1e-6)
    assert conv1["map_max"] == pytest.approx(full.max(axis=(1, 2)).tolist())
    assert conv1["map_min"] == pytest.approx(full.min(axis=(1, 2)).tolist())
    assert (conv1["min"], conv1["max"]) == pytest.approx((full.min(), full.max()))
    head = by_name["head"]
    assert head["vector"] and head["channels"] == 4 and head["total"] == 4
    np.testing.assert_allclose(
        decode(head, payload).ravel(), widget.fm["head"][0], rtol=2**-10, atol=1e-6
    )
    assert len(payload) == 2 * (6 * 16 * 16 + 6 * 8 * 8 + 4)


def test_thumbs_of_a_big_layer_are_block_means_of_its_first_maps():
    model = keras.Sequential(
        [keras.Input((70, 45, 2)), L.Conv2D(20, 3, padding="same", name="c")], name="wide"
    )
    x = np.random.default_rng(2).normal(size=(70, 45, 2)).astype(np.float32)
    w = fmwidget.FeatureMapWidget(model, x)
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    reply, buffers = ask(w, type="get_thumbs", layers=["c"], request_id=1)
    (head,) = reply["layers"]
    assert head["factor"] == 3 and (head["height"], head["width"]) == (24, 15)
    assert head["channels"] == THUMB_CHANNELS and head["total"] == 20
    full = np.moveaxis(w.fm["c"][0], -1, 0)[:THUMB_CHANNELS]
    want = naive_block_mean(full, 3)
    np.testing.assert_allclose(decode(head, bytes(buffers[0])), want, rtol=2**-10, atol=2e-3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"type": "get_thumbs", "request_id": 3}, "Expected layers"),
        ({"type": "get_thumbs", "layers": [], "request_id": 3}, "Expected layers"),
        ({"type": "get_thumbs", "layers": "conv1", "request_id": 3}, "Expected layers"),
        ({"type": "get_thumbs", "layers": [1], "request_id": 3}, "Expected a layer name"),
        ({"type": "get_thumbs", "layers": ["nope"], "request_id": 3}, "received 'nope'"),
        ({"type": "get_thumbs", "layers": ["conv1"] * 65, "request_id": 3}, "1 to 64"),
    ],
)
def test_bad_thumbs_requests_get_an_error_reply(widget, content, message):
    reply, _ = ask(widget, **content)
    assert reply["type"] == "error" and reply["request_id"] == 3
    assert message in reply["message"]
    assert widget.fm is not None  # the widget keeps working
    ok, _ = ask(widget, type="get_thumbs", layers=["conv1"], request_id=5)
    assert ok["type"] == "thumbs"


# -- links ------------------------------------------------------------------------------------
def branchy_model() -> keras.Model:
    """Strides, dilation, same/valid padding, transposed conv, upsampling, concat, add, ops."""
    inp = keras.Input((20, 18, 3), name="image")
    a = L.Conv2D(4, 3, strides=2, padding="same", name="s2")(inp)
    b = L.Conv2D(4, 3, dilation_rate=2, padding="same", name="dil")(a)
    c = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(b)
    d = L.Conv2DTranspose(3, 3, strides=2, padding="same", name="up_t")(a)
    e = L.UpSampling2D(2, name="up_n")(b)
    f = L.Concatenate(name="cat")([d, e])
    g = L.ZeroPadding2D(((1, 0), (2, 1)), name="pad")(f)
    h = L.Conv2D(7, 3, name="tail")(g)
    i = L.Add(name="add")([c, L.Conv2D(8, 1, name="proj")(b)])
    j = i * 0.5  # a raw tensor operation between layers
    out = L.GlobalAveragePooling2D(name="gap")(j)
    return keras.Model(inp, [out, h], name="branchy")


def relations(fm, links, index):
    """Per input: (source, row relation, col relation) rebuilt from the sent parameters."""
    out = []
    size = links[index]["size"]
    for item in links[index]["inputs"]:
        src = item["from"]
        src_size = links[src]["size"] if links[src] else None
        if item["rows"] is None:
            out.append((src, None, None))
            continue
        rels = []
        for axis, n_out, n_in in zip(("rows", "cols"), size, src_size, strict=True):
            kind, kernel, stride, dilation, offset = item[axis]
            m = AxisMap(KINDS[kind], kernel, stride, dilation, offset)
            rels.append(m.relation(n_out, n_in))
        out.append((src, *rels))
    return out


def back_mask(fm, links, index, mask):
    """Input-image cells that cell ``mask`` of entry ``index`` reads, through the links only."""
    need = {index: mask}
    for k in range(index, 0, -1):
        m = need.pop(k, None)
        if m is None or not m.any():
            continue
        for src, rr, rc in relations(fm, links, k):
            shape = tuple(links[src]["size"])
            part = np.full(shape, m.any()) if rr is None else (rr.T @ m @ rc) > 0
            need[src] = need[src] | part if src in need else part
    return need.get(0, np.zeros(tuple(links[0]["size"]), bool))


@pytest.mark.parametrize("model_fn", [small_cnn, branchy_model])
def test_links_rebuild_every_receptive_field_exactly(model_fn):
    model = model_fn()
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(3).random(shape, dtype=np.float32)
    w = fmwidget.FeatureMapWidget(model, x)
    fm = w.fm
    links = [d["links"] for d in w.layers]
    for info in fm.layers[1:]:
        if info.spatial_shape is None:
            assert links[info.index]["size"] is None
            continue
        size = links[info.index]["size"]
        assert size == list(info.spatial_shape)
        for r, c in [(0, 0), (size[0] - 1, size[1] - 1), (size[0] // 2, size[1] // 3)]:
            mask = np.zeros(size, bool)
            mask[r, c] = True
            np.testing.assert_array_equal(
                back_mask(fm, links, info.index, mask),
                fm.receptive_field_mask(info.name, (r, c)),
                err_msg=f"{info.name} {(r, c)}",
            )


def test_links_say_which_channels_read_which():
    x = np.random.default_rng(4).random((20, 18, 3), dtype=np.float32)
    w = fmwidget.FeatureMapWidget(branchy_model(), x)
    by_name = {d["name"]: d for d in w.layers}
    index = {d["name"]: d["index"] for d in w.layers}

    def channels(name):
        return [(i["from"], i["ch"]) for i in by_name[name]["links"]["inputs"]]

    assert channels("s2") == [(0, [[0, 4, 1]])]  # every filter reads every input channel
    assert channels("dw") == [(index["dil"], [[0, 8, 4]])]  # 4 groups: map c reads c // 2
    assert channels("cat") == [(index["up_t"], [[0, 3, 3]]), (index["up_n"], [[3, 4, 4]])]
    assert channels("add") == [(index["dw"], [[0, 8, 8]]), (index["proj"], [[0, 8, 8]])]
    assert by_name["dil"]["links"]["inputs"][0]["cols"] == ["w", 3, 1, 2, -2]
    assert by_name["up_t"]["links"]["inputs"][0]["rows"][0] == "t"
    assert by_name["up_n"]["links"]["inputs"][0]["rows"][:3] == ["u", 1, 2]
    ops = [d for d in w.layers if d["is_op"]]
    assert [d["class_name"] for d in ops] == ["Multiply"]
    assert ops[0]["links"]["inputs"][0]["ch"] == [[0, 8, 8]]
    gap = by_name["gap"]["links"]
    assert gap["size"] is None and gap["inputs"][0]["rows"] is None


def test_unknown_geometry_has_no_links():
    class Shuffle(L.Layer):
        def call(self, x):
            return keras.ops.flip(x, axis=1)

    inp = keras.Input((8, 8, 1))
    y = L.Conv2D(2, 3, name="c")(Shuffle(name="shuffle")(inp))
    w = fmwidget.FeatureMapWidget(keras.Model(inp, y), np.ones((8, 8, 1), np.float32))
    by_name = {d["name"]: d for d in w.layers}
    if layer_reply(w, {"layer": "shuffle"})[0]["receptive_field"] is None:  # unknown geometry
        assert by_name["shuffle"]["links"] is None
    assert by_name["c"]["links"]["inputs"][0]["from"] == by_name["shuffle"]["index"]
