"""Receptive/projective fields and pooling sources against what Keras itself computes.

The oracle: a copy of the model with linear activations, average pooling instead of max
pooling, positive weights and zero biases. Feed it one image per input pixel (that pixel
set to 1, all else 0): an output cell changes exactly when the pixel is in its receptive
field (positive weights cannot cancel), so the supports Keras computes are the truth.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import L, small_cnn
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import fmwidget
from fmwidget.geometry import bounding_slices, same_padding

BACKEND = keras.backend.backend()


AVERAGE_OF = {
    L.MaxPooling1D: L.AveragePooling1D,
    L.MaxPooling2D: L.AveragePooling2D,
    L.MaxPooling3D: L.AveragePooling3D,
    L.GlobalMaxPooling1D: L.GlobalAveragePooling1D,
    L.GlobalMaxPooling2D: L.GlobalAveragePooling2D,
    L.GlobalMaxPooling3D: L.GlobalAveragePooling3D,
}


def linear_copy(model: keras.Model) -> keras.Model:
    """Clone with linear activations, average pooling, positive weights, zero biases."""

    def clone(layer):
        config = layer.get_config()
        for max_pool, average in AVERAGE_OF.items():
            if type(layer) is max_pool:
                return average.from_config(config)
        if isinstance(layer, (L.ReLU, L.LeakyReLU, L.Activation)):
            return L.Identity(name=layer.name)
        if "activation" in config:
            config["activation"] = "linear"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    rng = np.random.default_rng(0)
    for layer in copy.layers:
        weights = []
        for w in layer.weights:
            name = w.path.split("/")[-1]
            shape = tuple(w.shape)
            if name in ("bias", "beta", "moving_mean"):
                weights.append(np.zeros(shape, "float32"))
            elif name in ("gamma", "moving_variance"):
                weights.append(np.ones(shape, "float32"))
            else:
                weights.append(rng.uniform(0.5, 1.0, shape).astype("float32"))
        if weights:
            layer.set_weights(weights)
    return copy


def empirical_support(model: keras.Model, names: list[str]) -> dict[str, np.ndarray]:
    """For each layer: bool array (pixels..., cells...) — does the cell move with the pixel."""
    copy = linear_copy(model)
    shape = tuple(copy.inputs[0].shape[1:])
    fmt = getattr(copy.layers[1], "data_format", "channels_last")
    spatial = shape[1:] if fmt == "channels_first" else shape[:-1]
    n = int(np.prod(spatial))
    probes = np.zeros((n, *shape), "float32")
    for k, pos in enumerate(np.ndindex(*spatial)):
        if fmt == "channels_first":
            probes[(k, slice(None), *pos)] = 1.0
        else:
            probes[(k, *pos)] = 1.0
    out = {}
    for name in names:
        layer = copy.get_layer(name)
        sub = keras.Model(copy.inputs, layer.output)
        y = keras.ops.convert_to_numpy(sub(probes, training=False))
        layer_fmt = getattr(layer, "data_format", fmt)
        if y.ndim == 2 or layer_fmt == "channels_first":  # vectors: any unit moved
            moved = (np.abs(y) > 0).any(axis=1)
        else:
            moved = (np.abs(y) > 0).any(axis=-1)
        out[name] = moved.reshape(*spatial, *moved.shape[1:])
    return out


def check_fields(model: keras.Model, names: list[str]) -> None:
    """Every cell's receptive field and every pixel's projective field, exactly."""
    shape = tuple(model.inputs[0].shape[1:])
    fm = fmwidget.extract(model, np.random.rand(1, *shape).astype("float32"))
    support = empirical_support(model, names)
    spatial = fm.layers[0].spatial_shape
    rank = len(spatial)
    for name in names:
        moved = support[name]
        info = fm.info(name)
        cells = [()] if info.spatial_shape is None else list(np.ndindex(*info.spatial_shape))
        for cell in cells:
            truth = moved[(Ellipsis, *cell)] if cell else moved
            got = fm.receptive_field_mask(name, cell)
            assert np.array_equal(got, truth), (name, cell)
            assert fm.receptive_field(name, cell) == bounding_slices(truth)
        if info.spatial_shape is None:
            continue
        table = fm.receptive_field_table(name)
        for cell in cells:
            box = tuple(slice(*map(int, table[a][p])) for a, p in enumerate(cell))
            if any(b.start == b.stop for b in box):  # a padding cell reads nothing
                box = tuple(slice(0, 0) for _ in box)
            assert box == bounding_slices(moved[(Ellipsis, *cell)]), (name, cell)
        for pixel in np.ndindex(*spatial):
            truth = moved[pixel]
            assert np.array_equal(fm.projective_field_mask(name, pixel), truth), (name, pixel)
            assert fm.projective_field(name, pixel) == bounding_slices(truth)
        assert len(fm.receptive_field(name, cells[0])) == rank


def test_small_cnn_fields_match_keras():
    model = small_cnn()
    check_fields(model, ["conv1", "pool1", "conv2", "bn", "relu2", "pool2", "gpool", "head"])


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "padding"),
    [
        (3, 1, 1, "valid"),
        (3, 2, 1, "same"),
        (4, 2, 1, "same"),
        (3, 1, 2, "same"),
        (2, 3, 1, "valid"),
        (5, 2, 1, "same"),
        (1, 2, 1, "valid"),
    ],
)
def test_conv_pool_stacks(kernel, stride, dilation, padding):
    inp = keras.Input((13, 11, 2))
    x = L.Conv2D(
        3,
        kernel,
        strides=stride if dilation == 1 else 1,
        dilation_rate=dilation,
        padding=padding,
        name="a",
    )(inp)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="p")(x)
    x = L.Conv2D(2, (2, 3), dilation_rate=(2, 1), padding="same", name="b")(x)
    check_fields(keras.Model(inp, x), ["a", "p", "b"])


def test_depthwise_separable_transpose_padding_cropping_upsampling():
    inp = keras.Input((10, 9, 2))
    x = L.ZeroPadding2D(((2, 1), (0, 3)), name="pad")(inp)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = L.SeparableConv2D(3, (3, 2), dilation_rate=1, padding="valid", name="sep")(x)
    x = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="tsame")(x)
    x = L.Conv2DTranspose(2, (2, 3), strides=(3, 1), padding="valid", name="tvalid")(x)
    x = L.Cropping2D(((1, 2), (2, 0)), name="crop")(x)
    x = L.UpSampling2D((2, 1), name="up")(x)
    x = L.AveragePooling2D(3, strides=2, name="avg")(x)
    model = keras.Model(inp, x)
    check_fields(model, ["pad", "dw", "sep", "tsame", "tvalid", "crop", "up", "avg"])


def test_branches_add_and_concatenate():
    inp = keras.Input((12, 12, 1))
    a = L.Conv2D(2, 1, strides=2, name="short")(inp)
    b = L.Conv2D(2, 3, padding="same", name="b1")(inp)
    b = L.Conv2D(2, 3, strides=2, padding="same", name="b2")(b)
    c = L.Conv2D(2, (1, 5), strides=2, padding="same", name="wide")(inp)
    s = L.Add(name="add")([a, b])
    cat = L.Concatenate(name="cat")([s, c])
    out = L.Conv2D(2, 2, name="head")(cat)
    check_fields(keras.Model(inp, out), ["short", "b2", "add", "cat", "head"])


def test_conv1d_fields():
    inp = keras.Input((17, 2))
    x = L.Conv1D(2, 3, dilation_rate=3, padding="same", name="c1")(inp)
    x = L.MaxPooling1D(2, name="p")(x)
    x = L.Conv1D(2, 2, strides=2, name="c2")(x)
    check_fields(keras.Model(inp, x), ["c1", "p", "c2"])


@pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="TensorFlow's CPU kernels do not implement channels_first Conv2D",
)
def test_channels_first_fields():
    check_fields(small_cnn("channels_first"), ["conv1", "pool1", "conv2", "pool2", "gpool"])


def _windows_by_formula(n_in: int, pool: int, stride: int, padding: str) -> list[range]:
    pad = same_padding(n_in, pool, stride) if padding == "same" else 0
    n_out = -(-n_in // stride) if padding == "same" else (n_in - pool) // stride + 1
    return [
        range(max(o * stride - pad, 0), min(o * stride - pad + pool, n_in)) for o in range(n_out)
    ]


@pytest.mark.parametrize(("pool", "stride", "padding"), [(2, 2, "valid"), (3, 2, "same")])
def test_pool_source_is_first_argmax_and_holds_the_pooled_value(pool, stride, padding):
    inp = keras.Input((9, 9, 3))
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    x = L.MaxPooling2D(pool, strides=stride, padding=padding, name="pool")(x)
    model = keras.Model(inp, x)
    data = np.random.rand(2, 9, 9, 3).astype("float32") - 0.5
    fm = fmwidget.extract(model, data)
    conv, pooled = fm["conv"], keras.ops.convert_to_numpy(model(data))
    assert (conv == 0).mean() > 0.2  # ReLU zeros make ties that exercise tie-breaking
    rows = _windows_by_formula(9, pool, stride, padding)
    for sample in range(2):
        for r, rr in enumerate(rows):
            for c, cc in enumerate(rows):
                assert fm.pool_window("pool", (r, c)) == (
                    slice(rr.start, rr.stop),
                    slice(cc.start, cc.stop),
                )
                for ch in range(4):
                    src = fm.pool_source("pool", (r, c), ch, sample)
                    # the value there is the one Keras pooled ...
                    assert conv[sample, src[0], src[1], ch] == pooled[sample, r, c, ch]
                    # ... and it is the first maximum in row-major order
                    window = [(i, j) for i in rr for j in cc]
                    best = max(conv[sample, i, j, ch] for i, j in window)
                    first = next(p for p in window if conv[sample, p[0], p[1], ch] == best)
                    assert src == first


def test_global_max_pool_source():
    model = small_cnn()
    fm = fmwidget.extract(model, np.random.rand(1, 16, 16, 3).astype("float32"))
    pooled = fm["gpool"]
    src_map = fm["pool2"]
    for ch in range(pooled.shape[-1]):
        r, c = fm.pool_source("gpool", (), ch)
        assert src_map[0, r, c, ch] == pooled[0, ch]
    with pytest.raises(ValueError, match="MaxPooling"):
        fm.pool_source("pool2", (0, 0), 0)  # average pooling has no argmax


# -- property-based: random conv/pool stacks (kernel, stride, dilation, padding) agree with the
# empirical support of every output cell (the oracle above) ---------------------------------


def _out(n: int, k: int, s: int, d: int, padding: str) -> int:
    if padding == "same":
        return -(-n // s)
    span = d * (k - 1) + 1
    return (n - span) // s + 1 if n >= span else 0


conv = st.tuples(
    st.just("conv"),
    st.tuples(st.integers(1, 4), st.integers(1, 3)),  # kernel (rows, cols)
    st.integers(1, 3),  # stride
    st.integers(1, 3),  # dilation (Keras needs stride 1 with it)
    st.sampled_from(["valid", "same"]),
)
pool = st.tuples(
    st.sampled_from(["max", "avg"]),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.integers(1, 3),
    st.just(1),
    st.sampled_from(["valid", "same"]),
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    size=st.tuples(st.integers(5, 11), st.integers(5, 11)),
    stack=st.lists(conv | pool, min_size=1, max_size=3),
)
def test_random_stacks_match_empirical_support(size, stack):
    h, w = size
    inp = keras.Input((h, w, 1))
    x, names = inp, []
    for i, (kind, kernel, stride, dilation, padding) in enumerate(stack):
        if dilation > 1:
            stride = 1
        h2 = _out(h, kernel[0], stride, dilation, padding)
        w2 = _out(w, kernel[1], stride, dilation, padding)
        assume(h2 > 0 and w2 > 0)
        h, w = h2, w2
        name = f"{kind}{i}"
        if kind == "conv":
            x = L.Conv2D(
                2, kernel, strides=stride, dilation_rate=dilation, padding=padding, name=name
            )(x)
        else:
            cls = L.MaxPooling2D if kind == "max" else L.AveragePooling2D
            x = cls(kernel, strides=stride, padding=padding, name=name)(x)
        names.append(name)
    check_fields(keras.Model(inp, x), names)


def _build(inp, layers):
    """``inp`` through ``layers``; rejects the example when a shape collapses or is refused."""
    x = inp
    for layer in layers:
        try:
            x = layer(x)
        except ValueError:  # e.g. cropping more than the map has
            assume(False)
        assume(all(d is None or 0 < d <= 24 for d in x.shape))
    return keras.Model(inp, x)


conv1d = st.tuples(
    st.sampled_from(["conv", "conv", "max", "avg", "pad", "crop", "up"]),
    st.integers(1, 4),  # kernel / pool size / padding or cropping before / upsampling size
    st.integers(1, 3),  # stride / padding or cropping after
    st.integers(1, 3),  # dilation (conv only; Keras needs stride 1 with it)
    st.sampled_from(["valid", "same"]),
)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(n=st.integers(5, 14), stack=st.lists(conv1d, min_size=1, max_size=3))
@example(  # every 1D kind at least once
    n=9,
    stack=[
        ("pad", 3, 1, 1, "valid"),
        ("conv", 3, 1, 2, "same"),
        ("max", 3, 2, 1, "same"),
        ("up", 2, 1, 1, "valid"),
        ("crop", 2, 3, 1, "valid"),
        ("avg", 2, 1, 1, "valid"),
        ("conv", 2, 2, 1, "valid"),
    ],
)
def test_random_conv1d_stacks_match_empirical_support(n, stack):
    layers = []
    for i, (kind, a, b, dilation, padding) in enumerate(stack):
        name = f"{kind}{i}"
        if kind == "conv":
            stride = 1 if dilation > 1 else b
            layers.append(
                L.Conv1D(2, a, strides=stride, dilation_rate=dilation, padding=padding, name=name)
            )
        elif kind in ("max", "avg"):
            cls = L.MaxPooling1D if kind == "max" else L.AveragePooling1D
            layers.append(cls(min(a, 3), strides=b, padding=padding, name=name))
        elif kind == "pad":
            layers.append(L.ZeroPadding1D((a - 1, b - 1), name=name))
        elif kind == "crop":
            layers.append(L.Cropping1D((a - 1, b - 1), name=name))
        else:
            layers.append(L.UpSampling1D(min(a, 3), name=name))
    model = _build(keras.Input((n, 1)), layers)
    check_fields(model, [layer.name for layer in layers])


resampling = st.tuples(
    st.sampled_from(["transpose", "pad", "crop", "up", "conv"]),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),  # kernel / upsampling size
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
    st.integers(1, 3),  # stride
    st.sampled_from(["valid", "same"]),
)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@example(  # every kind at least once, both transpose paddings
    size=(5, 4),
    stack=[
        ("pad", (1, 1), (1, 0, 0, 2), 1, "valid"),
        ("transpose", (3, 2), (0, 0, 0, 0), 2, "same"),
        ("crop", (1, 1), (2, 1, 0, 1), 1, "valid"),
        ("up", (2, 1), (0, 0, 0, 0), 1, "valid"),
        ("conv", (3, 3), (0, 0, 0, 0), 2, "same"),
        ("transpose", (3, 2), (0, 0, 0, 0), 1, "same"),
    ],
)
@given(
    size=st.tuples(st.integers(4, 7), st.integers(4, 7)),
    stack=st.lists(resampling, min_size=2, max_size=4).filter(
        lambda s: any(k != "conv" for k, *_ in s)
    ),
)
def test_random_transpose_padding_cropping_upsampling_stacks(size, stack):
    """Conv2DTranspose / ZeroPadding2D / Cropping2D / UpSampling2D (nearest) among convs."""
    layers = []
    for i, (kind, kernel, (t, bt, lf, rt), stride, padding) in enumerate(stack):
        name = f"{kind}{i}"
        if kind == "transpose":
            layers.append(L.Conv2DTranspose(2, kernel, strides=stride, padding=padding, name=name))
        elif kind == "pad":
            layers.append(L.ZeroPadding2D(((t, bt), (lf, rt)), name=name))
        elif kind == "crop":
            layers.append(L.Cropping2D(((t, bt), (lf, rt)), name=name))
        elif kind == "up":
            layers.append(L.UpSampling2D(kernel, name=name))
        else:
            layers.append(L.Conv2D(2, kernel, strides=stride, padding=padding, name=name))
    model = _build(keras.Input((*size, 1)), layers)
    check_fields(model, [layer.name for layer in layers])
