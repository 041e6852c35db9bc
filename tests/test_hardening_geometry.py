"""Property-based geometry: random conv/pool stacks (kernel, stride, dilation, padding) agree
with the empirical support of every output cell (the oracle of ``test_geometry``)."""

from __future__ import annotations

import keras
from helpers import L
from hypothesis import HealthCheck, assume, given, settings
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
