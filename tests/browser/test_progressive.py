"""Progressive painting in the real bundle: a layer that travels in parts is painted from its
first part (the grid's first screenful) before the last part arrives; the read-out never
shows a value of a map that is not in yet, and reads exact float16 values once it is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .helpers import KernelResponder, synced_state

pytestmark = pytest.mark.browser

FILTERS, SIZE = 48, 128  # 48 maps of 128x128: more than one screenful of the grid


@pytest.fixture(scope="module")
def big_widget() -> Any:
    import keras

    from fmwidget import FeatureMapWidget

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(FILTERS, 3, padding="same", activation="relu", name="conv"),
        ],
        name="wide_cnn",
    )
    x = np.random.default_rng(3).random((SIZE, SIZE, 1), dtype=np.float32)
    return FeatureMapWidget(model, x, layer="conv", view="grid")


def info(h: Any) -> dict[str, Any]:
    return h.page.locator(".fmw-info").evaluate(
        "(el) => ({text: el.textContent, progress: el.dataset.progress ?? null})"
    )


def opaque_pixels(h: Any) -> int:
    return h.page.locator(".fmw-grid").evaluate(
        """(c) => {
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] === 255) n++;
            return n;
        }"""
    )


def readout(h: Any) -> dict[str, Any]:
    return h.page.locator(".fmw-readout").evaluate(
        "(el) => ({text: el.textContent, value: el.dataset.value ?? null,"
        " filter: el.dataset.filter ?? null})"
    )


def exact(fm: Any, f: int, r: int, c: int) -> float:
    """The float16 value the browser must show for filter f, row r, col c of ``conv``."""
    return float(np.float16(fm["conv"][0, r, c, f]))


def test_first_part_is_painted_before_the_last_arrives(harness_page: Any, big_widget: Any):
    h = harness_page
    kernel = KernelResponder(big_widget)
    held: list[tuple[dict[str, Any], list[bytes]]] = []

    def responder(content: dict[str, Any]) -> Any:
        out = kernel(content)
        if content.get("layer") == "conv" and len(out) > 1:
            held.append(out.pop())  # the last part waits until the test sends it
        return out

    h.mount(synced_state(big_widget), responder)
    h.ready()  # painted from what arrived: every part but the last
    (ask,) = [r for r in kernel.requests if r.get("layer") == "conv"]
    first = ask["first_channels"]
    assert 0 < first < FILTERS  # the grid's first screenful, computed by the browser
    assert len(held) == 1
    last_header = held[0][0]
    assert last_header["chunk"] == last_header["chunks"] - 1
    missing = range(last_header["channel_start"], last_header["channel_stop"])
    arrived = FILTERS - len(missing)
    assert arrived >= first
    shown = info(h)
    assert shown["text"].startswith(f"{arrived} of {FILTERS} maps of {SIZE}\u00d7{SIZE}")
    assert "loading" in shown["text"]
    zoom = int(shown["text"].split("zoom \u00d7")[1].split()[0])
    tile = (SIZE * zoom) ** 2
    assert opaque_pixels(h) == arrived * tile  # maps still coming are left blank

    fm = big_widget.fm
    h.kernel_set("hover", {"layer": "conv", "filter": 1, "row": 40, "col": 17})
    h.page.wait_for_function("() => document.querySelector('.fmw-readout').dataset.value")
    assert float(readout(h)["value"]) == exact(fm, 1, 40, 17)  # an arrived map: exact
    late = missing[len(missing) // 2]
    h.kernel_set("hover", {"layer": "conv", "filter": late, "row": 5, "col": 99})
    h.page.wait_for_function(
        "() => document.querySelector('.fmw-readout').textContent.includes('loading')"
    )
    assert readout(h)["value"] is None  # no value until its map is in

    h.reply(*held[0])  # the last part lands
    h.page.wait_for_function(
        "(t) => document.querySelector('.fmw-info').textContent.startsWith(t)",
        arg=f"{FILTERS} maps of",
    )
    assert opaque_pixels(h) == FILTERS * tile
    assert info(h)["progress"] is None
    got = readout(h)  # the hovered cell now reads its exact value
    assert got["filter"] == str(late) and float(got["value"]) == exact(fm, late, 5, 99)
    for f, r, c in ((0, 0, 0), (missing[0], 127, 127), (FILTERS - 1, 64, 3)):
        h.kernel_set("hover", {"layer": "conv", "filter": f, "row": r, "col": c})
        h.page.wait_for_function(
            "(f) => document.querySelector('.fmw-readout').dataset.filter === String(f)", arg=f
        )
        assert float(readout(h)["value"]) == exact(fm, f, r, c)
    assert h.page_errors == []


def test_a_pointer_waiting_on_a_late_map_gets_its_value_when_it_lands(
    harness_page: Any, big_widget: Any
):
    h = harness_page
    kernel = KernelResponder(big_widget)
    held: list[tuple[dict[str, Any], list[bytes]]] = []

    def responder(content: dict[str, Any]) -> Any:
        out = kernel(content)
        if content.get("layer") == "conv" and len(out) > 1:
            held.append(out.pop())
        return out

    h.mount(synced_state(big_widget), responder)
    h.ready()
    late = held[0][0]["channel_start"]
    # scroll the late map's tile into the pane and put the pointer on its cell (10, 20)
    spot = h.page.locator(".fmw-grid").evaluate(
        """(c, [slot, size]) => {
            const zoom = Number(document.querySelector('.fmw-info').textContent
                .split('zoom \u00d7')[1].split(' ')[0]);
            const tile = size * zoom, gap = 2;
            const cols = Math.round((c.width - gap) / (tile + gap));
            const x = gap + (slot % cols) * (tile + gap) + 20 * zoom + zoom / 2;
            const y = gap + Math.floor(slot / cols) * (tile + gap) + 10 * zoom + zoom / 2;
            const wrap = c.closest('.fmw-gridwrap');
            wrap.scrollTop = Math.max(0, y - 40);
            const box = c.getBoundingClientRect();
            return {x: box.left + x, y: box.top + y};
        }""",
        [late, SIZE],
    )
    h.page.mouse.move(spot["x"], spot["y"])
    h.page.wait_for_function(
        "(f) => { const r = document.querySelector('.fmw-readout');"
        " return r.textContent.includes('filter ' + f) && r.textContent.includes('loading'); }",
        arg=late,
    )
    assert readout(h)["value"] is None
    h.reply(*held[0])
    h.page.wait_for_function("() => document.querySelector('.fmw-readout').dataset.value")
    want = exact(big_widget.fm, late, 10, 20)
    assert float(readout(h)["value"]) == want
    hover = h.wait_for_trait("hover", timeout=5_000)  # the exact value reached the model
    assert (hover["filter"], hover["row"], hover["col"]) == (late, 10, 20)
    assert hover["value"] == want
    assert h.page_errors == []


def test_a_pushed_first_part_paints_before_the_request_is_answered(
    harness_page: Any, big_widget: Any
):
    """What the kernel sends right after making the widget (its shown layer's first part,
    unasked) is painted as the view renders, while its own request is still unanswered."""
    from fmwidget.encode import layer_parts
    from fmwidget.replies import layer_reply

    h = harness_page
    header, payload = layer_reply(big_widget, {"layer": "conv"})
    push = next(layer_parts(header, payload))  # what handlers.push_first_part sends
    assert push[0]["request_id"] is None and push[0]["chunks"] > 1
    kernel = KernelResponder(big_widget)
    held: list[tuple[dict[str, Any], list[bytes]]] = []

    def responder(content: dict[str, Any]) -> Any:
        out = kernel(content)
        if content.get("layer") == "conv":
            held.extend(out)  # no answer yet: only the pushed part can paint
            return []
        return out

    h.mount(synced_state(big_widget), responder, early=[(push[0], [bytes(push[1])])])
    h.ready()
    n = push[0]["channel_stop"]
    assert info(h)["text"].startswith(f"{n} of {FILTERS} maps of")
    zoom = int(info(h)["text"].split("zoom \u00d7")[1].split()[0])
    assert opaque_pixels(h) == n * (SIZE * zoom) ** 2
    h.kernel_set("hover", {"layer": "conv", "filter": n - 1, "row": 7, "col": 8})
    h.page.wait_for_function("() => document.querySelector('.fmw-readout').dataset.value")
    assert float(readout(h)["value"]) == exact(big_widget.fm, n - 1, 7, 8)
    assert [r.get("layer") for r in kernel.requests].count("conv") == 1  # it still asked
    for reply in held:
        h.reply(*reply)
    h.page.wait_for_function(
        "(t) => document.querySelector('.fmw-info').textContent.startsWith(t)",
        arg=f"{FILTERS} maps of",
    )
    assert opaque_pixels(h) == FILTERS * (SIZE * zoom) ** 2
    assert h.page_errors == []
