"""Fields through raw tensor ops, normalization layers, broadcast gates and custom layers.

Each model is checked against perturbation ground truth (``tests/truth.py``), which does
not use fmwidget's geometry: on these smooth models (tanh, average pooling, no dead
units) the empirical field of every cell must equal fmwidget's exactly.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L
from truth import check_against_truth, gradient_support, perturbation_fields, probe_pixels

import fmwidget
from fmwidget.geometry import NotSeparableError

ops = keras.ops


def _check(model: keras.Model, size: int = 12, equal: bool = True) -> fmwidget.FeatureMaps:
    """Perturbation truth for every cell; gradient truth for two cells of every entry."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (size, size, 3)).astype("float32")
    fm = fmwidget.extract(model, x)
    names = [i.name for i in fm.layers[1:] if i.spatial]
    pixels = probe_pixels((size, size), None)
    fields = perturbation_fields(model, x, names, pixels)
    check_against_truth(fm, fields, pixels, equal=equal)
    for name in names:
        info = fm.info(name)
        for cell in [(0,) * len(info.spatial_shape), tuple(n // 2 for n in info.spatial_shape)]:
            grad = gradient_support(model, x, info.layer.output, cell)
            mask = fm.receptive_field_mask(name, cell)
            assert not (grad & ~mask).any(), f"{name} {cell}: gradient outside the field"
            if equal:
                assert (grad == mask).all(), f"{name} {cell}: gradient support != field"
    return fm


def conv(filters, kernel=3, **kw):
    return L.Conv2D(filters, kernel, activation="tanh", **kw)


def test_raw_tensor_ops_are_entries_and_traced():
    inp = keras.Input((12, 12, 3))
    a = conv(4, padding="same", name="a")(inp)
    b = conv(4, padding="same", name="b")(inp)
    c = conv(4, name="c")(a + b)  # an Add operation node feeds a Conv2D
    d = a[:, 1:-1, 1:-1, :] * 2.0 - c  # GetItem, Multiply by a constant, Subtract
    e = ops.concatenate([d, ops.tanh(c)], axis=-1)
    f = ops.multiply(e, ops.sigmoid(e))
    g = f[:, ::2, 1::2, :]  # strided slice
    h = conv(4, 2, name="h")(g)
    out = L.AveragePooling2D(2, name="pool")(ops.maximum(h, 0.1 * h))
    model = keras.Model(inp, out)
    fm = _check(model)
    ops_seen = {i.class_name for i in fm.layers if i.is_op}
    assert {"Add", "GetItem", "Multiply", "Subtract", "Concatenate", "Maximum"} <= ops_seen
    assert fm.info("c").inputs == (next(i.name for i in fm.layers if i.class_name == "Add"),)
    # The conv after `a + b` sees 5x5 of the input: 3x3 of the sum, whose cells see 3x3.
    assert fm.receptive_field("c", (4, 4)) == (slice(3, 8), slice(3, 8))


def test_normalization_layers():
    inp = keras.Input((12, 12, 3))
    x = L.Normalization(mean=0.5, variance=0.25, name="norm")(inp)
    x = conv(4, padding="same", name="c1")(x)
    x = L.LayerNormalization(axis=-1, name="ln_channels")(x)
    x = conv(4, name="c2")(x)
    y = L.UnitNormalization(axis=-1, name="unit")(x)
    y = L.Rescaling(0.5, 0.1, name="rescale")(y)
    z = L.GroupNormalization(groups=2, name="group")(x)  # statistics over the whole map
    w = L.LayerNormalization(axis=(1, 2, 3), name="ln_all")(y)
    out = L.Add(name="sum")([y, z, w])
    fm = _check(keras.Model(inp, out))
    assert fm.receptive_field("ln_channels", (5, 5)) == (slice(4, 7), slice(4, 7))
    assert fm.receptive_field("unit", (0, 0)) == (slice(0, 4), slice(0, 4))
    whole = (slice(0, 12), slice(0, 12))
    assert fm.receptive_field("group", (0, 0)) == whole
    assert fm.receptive_field("ln_all", (0, 0)) == whole


def test_squeeze_excite_gates_broadcast():
    inp = keras.Input((12, 12, 3))
    x = conv(8, padding="same", name="c1")(inp)
    # MobileNetV3 style: global pooling that keeps its dims, 1x1 convs, a Multiply layer.
    g = L.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    g = L.Conv2D(8, 1, activation="sigmoid", name="gate")(g)
    y = L.Multiply(name="excite")([x, g])
    # EfficientNet style: pooling to a vector, Reshape to (1, 1, C), then ops.
    v = L.GlobalAveragePooling2D(name="gap2")(y)
    v = L.Reshape((1, 1, 8), name="to_map")(v)
    z = ops.multiply(y, ops.sigmoid(v))
    z = conv(8, name="c2")(z)
    s = L.Subtract(name="sub")([z, L.GlobalAveragePooling2D(keepdims=True)(z)])
    m = L.Maximum(name="max")([s, ops.mean(z, axis=(1, 2), keepdims=True)])
    out = L.Average(name="avg")([m, z + ops.ones((1, 1, 8))])
    fm = _check(keras.Model(inp, out))
    whole = (slice(0, 12), slice(0, 12))
    assert fm.receptive_field("excite", (0, 0)) == whole  # the gate read the whole map
    assert fm.receptive_field("gate", (0, 0)) == whole
    assert fm.receptive_field("c1", (0, 0)) == (slice(0, 2), slice(0, 2))


def test_concatenate_along_a_spatial_axis():
    inp = keras.Input((12, 12, 3))
    a = conv(4, name="a")(inp)  # 10x10
    b = conv(4, 5, name="b")(inp)  # 8x8
    b = L.ZeroPadding2D(((0, 0), (1, 1)), name="pad")(b)  # 8x10
    rows = L.Concatenate(axis=1, name="rows")([a, b])  # 18x10
    cols = ops.concatenate([a, a[:, :, :4]], axis=2)  # 10x14
    out = conv(2, name="head")(rows)
    fm = _check(keras.Model(inp, [out, cols]))
    assert fm.receptive_field("rows", (10, 5)) == (slice(0, 5), slice(4, 9))
    assert fm.receptive_field("rows", (12, 0)) == (slice(0, 0), slice(0, 0))  # padding
    assert fm.receptive_field("rows", (12, 1)) == (slice(2, 7), slice(0, 5))
    # Row 0 reads `a` only, row 12 `b` only: column intervals differ by row, so there is no
    # per-axis table (the browser asks the kernel per cell instead), and it says so.
    with pytest.raises(NotSeparableError, match="receptive_field"):
        fm.receptive_field_table("rows")
    assert fm.receptive_field_table("a")[1][1].tolist() == [1, 4]


class LayerScale(L.Layer):
    """ConvNeXt's per-channel scale (a custom layer: traced, found element-wise)."""

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.gamma


class DropPath(L.Layer):
    """Stochastic depth: the identity at inference."""

    def call(self, x, training=None):
        if training:
            return x * keras.random.uniform((1,))
        return x


class SpatialMean(L.Layer):
    def call(self, x):
        return x - ops.mean(x, axis=(1, 2), keepdims=True)


def test_custom_and_lambda_layers_traced_when_element_wise():
    inp = keras.Input((12, 12, 3))
    x = conv(4, padding="same", name="c1")(inp)
    x = LayerScale(name="scale")(x)
    x = DropPath(name="drop_path")(x)
    x = L.Lambda(lambda t: ops.tanh(t) * 2.0, name="lam")(x)
    out = conv(4, name="c2")(x)
    fm = _check(keras.Model(inp, out))
    assert fm.receptive_field("c2", (0, 0)) == (slice(0, 4), slice(0, 4))


@pytest.mark.parametrize(
    ("layer", "why"),
    [
        (L.Lambda(lambda t: ops.transpose(t, (0, 2, 1, 3)), name="swap"), "Transpose"),
        (SpatialMean(name="centre"), "Mean"),
        (L.Permute((2, 1, 3), name="perm"), "Permute"),
    ],
)
def test_unknown_geometry_names_the_layer_that_is_unknown(layer, why):
    inp = keras.Input((12, 12, 3))
    x = conv(4, padding="same", name="c1")(inp)
    x = layer(x)
    x = conv(4, name="c2")(x)
    out = L.MaxPooling2D(name="pool")(x)
    fm = fmwidget.extract(keras.Model(inp, out), np.zeros((12, 12, 3), "float32"))
    assert fm.receptive_field("c1", (0, 0)) == (slice(0, 2), slice(0, 2))
    for target in ("pool", layer.name):
        with pytest.raises(fmwidget.GeometryError, match=f"'{layer.name}'.*{why}") as err:
            fm.receptive_field(target, (0, 0))
        assert "'c2'" not in str(err.value).split(":")[0]
    with pytest.raises(fmwidget.GeometryError, match=f"'{layer.name}'"):
        fm.receptive_field_table("pool")


def test_tables_are_one_pass_and_cached():
    inp = keras.Input((12, 12, 3))
    x = inp
    for k in range(30):
        x = x + conv(3, padding="same", name=f"c{k}")(x)
    fm = fmwidget.extract(keras.Model(inp, x), np.zeros((12, 12, 3), "float32"))
    graph = fm._graph
    last = fm.layers[-1].name
    fm.receptive_field_table(last)
    computed = len(graph._tables)
    assert computed == len(fm.layers)  # every ancestor once
    for info in fm.layers[1:]:
        fm.receptive_field_table(info.name)
    assert len(graph._tables) == computed  # nothing recomputed
    assert fm.receptive_field_table(last)[0][0].tolist() == [0, 12]
