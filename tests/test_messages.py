"""Messages from the browser: malformed, unknown, out of range or enormous ones get an
``error`` reply (saying what was expected and what was received) and never raise in the
kernel; trait changes from the browser that are invalid are refused the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import small_cnn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fmwidget
from fmwidget.encode import decode_map, encode_map
from fmwidget.messages import MAX_ERROR_CHARS, MAX_REQUEST_CHARS
from fmwidget.replies import layer_reply


@pytest.fixture(scope="module")
def widget():
    w = fmwidget.FeatureMapWidget(small_cnn(), np.random.rand(16, 16, 3).astype("float32"))
    w.sent = []
    w.send = lambda content, buffers=None: w.sent.append((content, buffers))
    return w


def ask(w, content, buffers=()):
    """Deliver ``content`` as the widget manager would; return every reply it caused."""
    before = len(w.sent)
    w._handle_custom_msg(content, list(buffers))  # ipywidgets' own dispatch to on_msg
    return w.sent[before:]


def assert_still_works(w):
    (reply, buffers), *_ = ask(w, {"type": "get_layer", "layer": "conv2", "request_id": 1})
    assert reply["type"] == "layer_data", reply
    got = decode_map(reply, bytes(buffers[0]))
    want = np.moveaxis(w.fm["conv2"][0], -1, 0)
    np.testing.assert_allclose(got, want, rtol=2**-11, atol=np.abs(want).max() * 2**-13)
    (trace, _), *_ = ask(
        w, {"type": "get_trace", "layer": "pool1", "filter": 1, "row": 2, "col": 3}
    )
    assert trace["type"] == "trace", trace


def one_error(replies):
    assert len(replies) == 1, replies
    reply, buffers = replies[0]
    assert reply["type"] == "error" and not buffers, reply
    json.dumps(reply, allow_nan=False)  # what Jupyter's session will do with it
    assert len(reply["message"]) <= MAX_ERROR_CHARS
    return reply


GET = {"type": "get_layer", "layer": "conv1", "request_id": 5, "version": 1}
TRACE = {"type": "get_trace", "layer": "pool1", "filter": 0, "row": 0, "col": 0, "request_id": 5}

MALFORMED = {
    "not an object": ("get_layer", r"Expected a message object, received str"),
    "a list": ([1, 2], r"received list"),
    "null": (None, r"received NoneType"),
    "no type": ({"layer": "conv1", "request_id": 5}, r"Expected message type .* received None"),
    "unknown type": ({**GET, "type": "drop_tables"}, r"received 'drop_tables'"),
    "type not a string": ({**GET, "type": ["get_layer"]}, r"Expected message type .* list"),
    "no layer": ({"type": "get_layer", "request_id": 5}, r"layer name \(str\), received None"),
    "layer is a number": ({**GET, "layer": 3}, r"layer name \(str\), received 3"),
    "unknown layer": ({**GET, "layer": "conv9"}, r"received 'conv9'\. Did you mean"),
    "huge layer name": ({**GET, "layer": "x" * 10_000}, r"at most 4096 characters, received"),
    "pre_activation not bool": ({**GET, "pre_activation": "yes"}, r"true or false, received"),
    "pre_activation without fused": (
        {**GET, "layer": "pool1", "pre_activation": True},
        r"Expected a layer with a fused activation",
    ),
    "request_id a string": ({**GET, "request_id": "5"}, r"int request_id, received '5'"),
    "request_id a float": ({**GET, "request_id": 5.5}, r"int request_id, received 5.5"),
    "request_id a bool": ({**GET, "request_id": True}, r"int request_id, received True"),
    "version a string": ({**GET, "version": "1"}, r"int version, received '1'"),
    "version from the future": ({**GET, "version": 10**6}, r"version in range\(0, \d+\)"),
    "negative version": ({**GET, "version": -1}, r"version in range"),
    "trace filter out of range": ({**TRACE, "filter": 6}, r"filter in range\(0, 6\), rec.* 6"),
    "trace negative filter": ({**TRACE, "filter": -1}, r"filter in range\(0, 6\)"),
    "trace row out of range": ({**TRACE, "row": 8}, r"inside the \(8, 8\) map .* \(8, 0\)"),
    "trace col negative": ({**TRACE, "col": -1}, r"inside the \(8, 8\) map"),
    "trace row a float": ({**TRACE, "row": 1.0}, r"int row, received 1\.0"),
    "trace filter a bool": ({**TRACE, "filter": False}, r"int filter, received False"),
    "trace filter missing": (
        {k: v for k, v in TRACE.items() if k != "filter"},
        r"int filter, received None",
    ),
    "trace col a list": ({**TRACE, "col": [0]}, r"int col, received list"),
    "trace of a vector layer": ({**TRACE, "layer": "head"}, r"Expected"),
    "enormous extra field": ({**GET, "junk": "a" * (MAX_REQUEST_CHARS + 1)}, r"at most \d+ char"),
    "enormous nested": ({**GET, "junk": [[0] * 100] * 100}, r"at most \d+ characters"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_message_gets_an_error_reply(widget, case):
    content, pattern = MALFORMED[case]
    reply = one_error(ask(widget, content))
    import re

    assert re.search(pattern, reply["message"]), reply["message"]
    rid = content.get("request_id") if isinstance(content, dict) else None
    want = rid if isinstance(rid, int) and not isinstance(rid, bool) else None
    assert reply["request_id"] == want
    assert_still_works(widget)


def test_buffers_on_a_request_are_refused(widget):
    reply = one_error(ask(widget, GET, [memoryview(b"\0" * 16)]))
    assert "without binary buffers, received 1" in reply["message"]
    assert_still_works(widget)


def test_error_replies_are_cut_to_a_bounded_length(widget):
    name = "conv" + "9" * 4000  # under the name limit, but the error would quote it all
    reply = one_error(ask(widget, {**GET, "layer": name}))
    assert reply["message"].endswith("\u2026") or len(reply["message"]) < MAX_ERROR_CHARS


def test_a_send_that_fails_does_not_raise(widget):
    def broken(content, buffers=None):
        raise RuntimeError("comm closed")

    w = fmwidget.FeatureMapWidget(widget.model, np.random.rand(16, 16, 3).astype("float32"))
    w.send = broken
    w._handle_custom_msg(GET, [])  # the reply fails, then the error reply fails: no raise
    w._handle_custom_msg({"type": "nope"}, [])


# -- trait changes from the browser -------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "pattern"),
    [
        ({"layer": "conv9"}, r"received 'conv9'"),
        ({"layer": 7}, r"layer"),
        ({"selected_filters": ["a"]}, r"selected_filters"),
        ({"colormap_range": "rainbow"}, r"colormap_range"),
        ({"hover": "x"}, r"hover"),
        ({"layer": "pool1", "selected_filters": "zz"}, r"selected_filters"),
    ],
)
def test_invalid_trait_change_from_browser_is_refused(widget, state, pattern):
    import re

    widget.layer = "conv1"
    before = {k: widget.trait_values()[k] for k in ("layer", "selected_filters", "hover")}
    sent_states = []
    original = widget.send_state
    widget.send_state = lambda key=None: sent_states.append(key)
    try:
        n = len(widget.sent)
        widget.set_state(state)  # what ipywidgets calls for an "update" from the browser
    finally:
        del widget.send_state
    assert original  # (the class method is back)
    errors = [c for c, _ in widget.sent[n:] if c.get("type") == "error"]
    assert len(errors) == 1 and re.search(pattern, errors[0]["message"]), errors
    assert errors[0]["message"].startswith("Refused a change from the browser")
    assert sent_states and set(sent_states[0]) == set(state)  # the browser is told to revert
    after = {k: widget.trait_values()[k] for k in ("layer", "selected_filters", "hover")}
    assert after == before  # rolled back, including the valid part of the change
    assert_still_works(widget)


def test_valid_trait_change_from_browser_is_applied(widget):
    widget.set_state({"layer": "pool1", "selected_filters": [1, 2]})
    assert widget.layer == "pool1" and widget.selected_filters == [1, 2]
    widget.set_state({"layer": "conv1", "selected_filters": []})


# -- fuzz -----------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(
    ["conv1", "pool1", "conv2", "bn", "relu2", "pool2", "gpool", "head", "input", "image", ""]
) | st.text(max_size=12)
small_ints = st.integers(-3, 20) | json_values
requests = st.fixed_dictionaries(
    {"type": st.sampled_from(["get_layer", "get_trace"]) | json_values},
    optional={
        "layer": names | json_values,
        "request_id": st.integers(-5, 2**60) | json_values,
        "version": st.integers(-2, 4) | json_values,
        "pre_activation": st.booleans() | json_values,
        "first_channels": small_ints | json_values,
        "filter": small_ints,
        "row": small_ints,
        "col": small_ints,
        "extra": json_values,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=requests | json_values)
def test_fuzz_message_handler(widget, content):
    replies = ask(widget, content)
    assert len(replies) == 1, replies  # exactly one answer, whatever arrived
    reply, buffers = replies[0]
    json.dumps(reply, allow_nan=False)  # Jupyter refuses NaN and non-JSON values
    assert reply["type"] in ("layer_data", "trace", "error")
    rid = content.get("request_id") if isinstance(content, dict) else None
    if isinstance(rid, int) and not isinstance(rid, bool) and abs(rid) < 2**53:
        assert reply["request_id"] == rid
    if reply["type"] == "layer_data":
        assert len(buffers) == 1
        got = decode_map(reply, bytes(buffers[0]))  # float16 or float16_nonzero, size checked
        assert got.shape == (reply["channels"], reply["height"], reply["width"])
        assert reply["version"] == widget.data_version
    elif reply["type"] == "error":
        assert reply["message"].startswith("Expected") or "Expected" in reply["message"], reply


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    state=st.fixed_dictionaries(
        {},
        optional={
            "layer": names | json_values,
            "selected_filters": st.lists(st.integers(-2, 10), max_size=3) | json_values,
            "hover": json_values,
            "trace_target": json_values,
            "colormap_range": st.sampled_from(["map", "layer", "global"]) | json_values,
        },
    )
)
def test_fuzz_trait_changes_from_browser(widget, state):
    widget.set_state(state)  # never raises
    assert widget.layer in widget.fm
    assert widget.colormap_range in ("map", "layer", "global")
    widget.set_state({"layer": "conv1", "selected_filters": [], "hover": None})


def test_widget_works_after_fuzzing(widget):
    assert_still_works(widget)
    x = np.random.rand(16, 16, 3).astype("float32")
    version = widget.data_version
    widget.set_input(x)
    assert widget.data_version == version + 1
    np.testing.assert_allclose(widget.fm["input"][0], x)


def test_layer_specs_say_the_spatial_rank_and_1d_maps_are_one_row():
    import keras

    keras.utils.set_random_seed(0)
    m1 = keras.Sequential(
        [keras.Input((24, 3)), keras.layers.Conv1D(4, 3, name="c"), keras.layers.MaxPooling1D(2)]
    )
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    w = fmwidget.FeatureMapWidget(m1, x)
    specs = {s["name"]: s for s in w.layers}
    c = specs["c"]
    assert (c["rank"], c["height"], c["width"], c["channels"]) == (1, 1, 22, 4)
    assert specs[m1.layers[1].name]["width"] == 11  # the pooled strip
    # the receptive-field table: one row, per time step the input span
    rf = layer_reply(w, {"layer": "c"})[0]["receptive_field"]
    assert rf["rows"] == [[0, 1]]
    assert rf["cols"][5] == [5, 8]
    # what the wire carries for the layer has the same height and width
    header, _ = encode_map(np.asarray(w.fm["c"])[0], "channels_last")
    assert (header["height"], header["width"]) == (1, 22)
    m2 = keras.Sequential([keras.Input((6, 5, 2)), keras.layers.Conv2D(2, 3, name="c2")])
    w2 = fmwidget.FeatureMapWidget(m2, np.zeros((6, 5, 2), "float32"))
    c2 = {s["name"]: s for s in w2.layers}["c2"]
    assert (c2["rank"], c2["height"], c2["width"]) == (2, 4, 3)
    m0 = keras.Sequential(
        [keras.Input((6, 5, 2)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(name="f")]
    )
    w0 = fmwidget.FeatureMapWidget(m0, np.zeros((6, 5, 2), "float32"))
    assert {s["name"]: s for s in w0.layers}["f"]["rank"] == 0
