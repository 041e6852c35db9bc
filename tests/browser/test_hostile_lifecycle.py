"""Lifecycle and size in the real bundle (harness page, real FeatureMapWidget answering):

- a layer sent in parts (as layers over 64 MiB are) is reassembled and hovered exactly, also
  when one channel alone is over the limit and travels in row ranges;
- several views of one model stay in sync; closing one and rendering another works;
- mounting and closing the widget 100 times leaves no listeners behind.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from .helpers import KernelResponder, synced_state
from .probes import hover_grid

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny_widget(tiny_maps: Any) -> Any:
    from fmwidget import FeatureMapWidget

    model, x, _ = tiny_maps
    return FeatureMapWidget(model, x, view="grid")


def test_layer_sent_in_parts_is_reassembled(
    harness_page: Any, tiny_widget: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fmwidget import encode

    # conv is 26x26x4 float16 = 5408 bytes: with a 2704-byte cap it travels in 2 parts of
    # 2 channels, exactly as a 128 MiB layer travels in 2 parts of 64 MiB.
    monkeypatch.setattr(encode, "MAX_MESSAGE_BYTES", 26 * 26 * 2 * 2)
    h = harness_page
    replies: list[dict[str, Any]] = []
    kernel = KernelResponder(tiny_widget)

    def responder(content: dict[str, Any]) -> Any:
        out = kernel(content)
        replies.extend(reply for reply, _ in out)
        return out

    h.mount(synced_state(tiny_widget), responder)
    h.ready()
    parts = [r for r in replies if r.get("layer") == "conv" and r["type"] == "layer_data"]
    assert [(p["chunk"], p["channel_start"], p["channel_stop"]) for p in parts] == [
        (0, 0, 2),
        (1, 2, 4),
    ]
    fm = tiny_widget.fm
    for filt in range(4):  # every channel range landed in its place
        h.kernel_set("hover", {"layer": "conv", "filter": filt, "row": 5, "col": 9})
        h.page.wait_for_function(
            "(f) => document.querySelector('.fmw-readout')?.dataset.filter === String(f)",
            arg=filt,
        )
        value = float(h.root.locator(".fmw-readout").get_attribute("data-value"))
        assert math.isclose(value, float(fm["conv"][0, 5, 9, filt]), rel_tol=2e-3, abs_tol=1e-6)
    assert h.page_errors == []


def test_one_channel_sent_in_row_parts_is_reassembled_exactly(
    harness_page: Any, tiny_widget: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from fmwidget import encode

    # conv's channels are 26x26 float16 = 1352 bytes: with a 520-byte cap each channel travels
    # in rows [0, 10), [10, 20), [20, 26), as one 26k x 26k channel would at 64 MiB.
    monkeypatch.setattr(encode, "MAX_MESSAGE_BYTES", 26 * 2 * 10)
    h = harness_page
    replies: list[tuple[dict[str, Any], bytes]] = []
    kernel = KernelResponder(tiny_widget)

    def responder(content: dict[str, Any]) -> Any:
        out = kernel(content)
        replies.extend((reply, bufs[0]) for reply, bufs in out if bufs)
        return out

    h.mount(synced_state(tiny_widget), responder)
    h.ready()
    parts = [(r, b) for r, b in replies if r.get("layer") == "conv"]
    rows = [(0, 10), (10, 20), (20, 26)]
    assert [(p["channel_start"], p["row_start"], p["row_stop"]) for p, _ in parts] == [
        (ch, r0, r1) for ch in range(4) for r0, r1 in rows
    ]
    assert all(len(b) <= 520 for _, b in parts)
    whole = np.full((4, 26, 26), np.nan, "float32")  # what the browser must hold, exactly
    for p, b in parts:
        whole[p["channel_start"], p["row_start"] : p["row_stop"]] = encode.decode_map(p, b)[0]
    np.testing.assert_allclose(whole, np.moveaxis(tiny_widget.fm["conv"][0], -1, 0), 2e-3, 1e-6)
    for filt in range(4):
        for row, col in ((0, 3), (9, 25), (10, 0), (19, 12), (20, 7), (25, 25)):
            cell = {"layer": "conv", "filter": filt, "row": row, "col": col}
            h.kernel_set("hover", cell)
            h.page.wait_for_function(
                "([f, r, c]) => { const d = document.querySelector('.fmw-readout')?.dataset;"
                " return d?.filter === String(f) && d.row === String(r) && d.col === String(c); }",
                arg=[filt, row, col],
            )
            value = float(h.root.locator(".fmw-readout").get_attribute("data-value"))
            assert value == float(whole[filt, row, col]), (filt, row, col)
    assert h.page_errors == []


MOUNT_TWO_VIEWS = """async (state) => {
    const {FakeModel} = await import('/fake_model.js');
    const mod = await import('/widget.js');
    const widget = mod.default ?? mod;
    const model = new FakeModel(state);
    window.__fmwModel = model;
    const init = typeof widget === 'function' ? await widget() : widget;
    const closeInit = await init.initialize({model});
    const host = document.getElementById('host');
    const views = {};
    window.__fmwViews = views;
    window.__fmwRender = async (name) => {
        const el = document.createElement('div');
        el.id = name;
        host.append(el);
        views[name] = await init.render({model, el});
    };
    window.__fmwClose = (name) => { views[name](); document.getElementById(name).remove(); };
    window.__fmwCloseInit = closeInit;
    await window.__fmwRender('a');
    await window.__fmwRender('b');
}"""


def test_several_views_stay_in_sync_and_close_cleanly(harness_page: Any, tiny_widget: Any) -> None:
    h = harness_page
    h.kernel = KernelResponder(tiny_widget)
    h.responder = h.kernel
    h.page.evaluate(MOUNT_TWO_VIEWS, synced_state(tiny_widget))
    a = h.page.locator("#a .fmw-root[data-ready='1']")
    b = h.page.locator("#b .fmw-root[data-ready='1']")
    a.wait_for()
    b.wait_for()
    gets = [q for q in h.kernel.requests if q.get("type") == "get_layer" and q["layer"] == "conv"]
    assert len(gets) == 1, gets  # one store per model: the two views share one request
    # hover in view a: view b shows the same cell and value
    cell = hover_grid(h.page, h.page.locator("#a"))
    rb = h.page.locator("#b .fmw-readout")
    h.page.wait_for_function(
        "([r, c, f]) => { const d = document.querySelector('#b .fmw-readout').dataset;"
        " return d.row === r && d.col === c && d.filter === f; }",
        arg=[cell["row"], cell["col"], cell["filter"]],
    )
    assert rb.get_attribute("data-value") == cell["value"]
    # a layer chosen in view b shows in view a
    h.page.locator("#b .fmw-layer[data-index='2']").click()
    h.page.wait_for_function(
        "() => document.querySelector(\"#a .fmw-layer[aria-selected='true']\")?.dataset.index"
        " === '2'"
    )
    # close view a; view b keeps working; a new view c renders from the shared cache
    h.page.evaluate("() => window.__fmwClose('a')")
    n_requests = len(h.kernel.requests)
    h.kernel_set("layer", "conv")
    h.page.evaluate("() => window.__fmwRender('c')")
    h.page.locator("#c .fmw-root[data-ready='1']").wait_for()
    h.kernel_set("hover", {"layer": "conv", "filter": 1, "row": 3, "col": 4})
    for view in ("#b", "#c"):
        h.page.wait_for_function(
            "(v) => document.querySelector(v + ' .fmw-readout').dataset.row === '3'", arg=view
        )
    assert not [q for q in h.kernel.requests[n_requests:] if q.get("type") == "get_layer"]
    assert h.page_errors == []


COUNT_LISTENERS = """() => {
    if (window.__fmwListeners) return;
    const live = new Set();
    const key = (t, type, fn, opts) =>
        [t === window ? 'window' : t === document ? 'document' : 'other', type,
         fn, typeof opts === 'boolean' ? opts : !!opts?.capture];
    const add = EventTarget.prototype.addEventListener;
    const remove = EventTarget.prototype.removeEventListener;
    const entries = new Map();
    EventTarget.prototype.addEventListener = function (type, fn, opts) {
        if (this === window || this === document) {
            const k = key(this, type, fn, opts);
            const id = k.slice(0, 2).join(':') + ':' + k[3];
            let fns = entries.get(id);
            if (!fns) entries.set(id, (fns = new Set()));
            fns.add(fn);
        }
        return add.call(this, type, fn, opts);
    };
    EventTarget.prototype.removeEventListener = function (type, fn, opts) {
        if (this === window || this === document) {
            const k = key(this, type, fn, opts);
            entries.get(k.slice(0, 2).join(':') + ':' + k[3])?.delete(fn);
        }
        return remove.call(this, type, fn, opts);
    };
    window.__fmwListeners = () => {
        let n = 0;
        for (const fns of entries.values()) n += fns.size;
        return n;
    };
}"""

CYCLE = """async ([state, wait]) => {
    const {mount} = await import('/fake_model.js');
    await mount('/widget.js', state);
    const model = window.__fmwModel;
    if (wait) {
        for (let i = 0; i < 200 && !document.querySelector('.fmw-root[data-ready="1"]'); i++)
            await new Promise((r) => setTimeout(r, 10));
    }
    await window.__fmwCleanup();
    document.getElementById('host').replaceChildren();
    let n = 0;
    for (const set of model.handlers.values()) n += set.size;
    return n;
}"""


def test_100_mount_close_cycles_leave_no_listeners(harness_page: Any, tiny_widget: Any) -> None:
    h = harness_page
    h.page.evaluate(COUNT_LISTENERS)
    state = synced_state(tiny_widget)
    h.responder = KernelResponder(tiny_widget)
    h.page.evaluate(CYCLE, [state, True])  # warm-up: styles injected once, module loaded
    base = h.page.evaluate("() => window.__fmwListeners()")
    left_on_models = [h.page.evaluate(CYCLE, [state, k % 10 == 0]) for k in range(100)]
    assert left_on_models == [0] * 100  # every model listener was removed on close
    assert h.page.evaluate("() => window.__fmwListeners()") == base
    assert h.page.locator("style#fmw-style").count() == 1
    assert h.page_errors == []
