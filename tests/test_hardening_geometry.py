"""Property-based geometry: random conv/pool stacks (kernel, stride, dilation, padding) agree
with the empirical support of every output cell (the oracle of ``test_geometry``)."""

from __future__ import annotations

import keras
from helpers import L
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from test_geometry import check_fields


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
