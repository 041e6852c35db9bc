"""The network overview in the real bundle: columns, thumbnails, linked cells, clicks, colours.

Every map shown comes from a real Keras model through the widget's own message handler; linked
cells are checked against ``fm.receptive_field`` / ``fm.projective_field`` and pixels are read
back with ``getImageData``.
"""

from __future__ import annotations

import json
from typing import Any

import keras
import numpy as np
import pytest

from .helpers import Harness

pytestmark = pytest.mark.browser
L = keras.layers
ORANGE = (0xFF, 0x8C, 0x00)  # cells a hovered cell reads
BLUE = (0x0A, 0x84, 0xFF)  # cells that read it
X = "\u00d7"  # the multiplication sign of shape labels


def linked_model() -> keras.Model:
    """Stride, same padding, max pooling, dilation, a raw `+` between layers, flatten, dense."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((20, 20, 3), name="image")
    c1 = L.Conv2D(4, 3, strides=2, padding="same", name="c1")(inp)
    r1 = L.ReLU(name="r1")(c1)
    p1 = L.MaxPooling2D(2, name="p1")(r1)
    c2 = L.Conv2D(4, 3, padding="same", dilation_rate=2, name="c2")(p1)
    c3 = L.Conv2D(3, 3, name="c3")(p1 + c2)
    out = L.Dense(5, name="head")(L.Flatten(name="flat")(c3))
    return keras.Model(inp, out, name="linked")


@pytest.fixture(scope="module")
def linked_widget() -> Any:
    from fmwidget import FeatureMapWidget

    x = np.random.default_rng(5).random((20, 20, 3), dtype=np.float32)
    return FeatureMapWidget(linked_model(), x)


def mount(h: Harness, widget: Any, **overrides: Any) -> None:
    h.mount_widget(widget, **overrides)
    h.ready()
    h.page.wait_for_selector('.fmw-overview[data-pending="0"]')


def thumb_rect(h: Harness, layer: str, slot: int = 0) -> dict[str, float]:
    rect = h.page.evaluate(
        "([l, s]) => document.querySelector('.fmw-overview').fmwOverview.clientRect(l, s)",
        [layer, slot],
    )
    assert rect is not None, f"no column for {layer}"
    return rect


def cell_point(
    rect: dict[str, float], shape: tuple[int, int], r: int, c: int
) -> tuple[float, float]:
    rows, cols = shape
    return rect["x"] + (c + 0.5) * rect["w"] / cols, rect["y"] + (r + 0.5) * rect["h"] / rows


def hover(h: Harness, layer: str, shape: tuple[int, int], r: int, c: int, slot: int = 0) -> dict:
    """Moves the real mouse onto cell (r, c) of map `slot`; returns the read-out's fields."""
    x, y = cell_point(thumb_rect(h, layer, slot), shape, r, c)
    h.page.mouse.move(x, y)
    h.page.wait_for_function(
        "([l, f, r, c]) => { const d = document.querySelector('.fmw-ov-readout')?.dataset;"
        " return d && d.layer === l && d.filter === String(f) && d.row === String(r)"
        " && d.col === String(c); }",
        arg=[layer, slot, r, c],
    )
    return json.loads(h.root.locator(".fmw-ov-readout").get_attribute("data-fields"))


def pixels(h: Harness, selector: str, rect: dict[str, float]) -> np.ndarray:
    """RGBA pixels of a canvas inside a client rectangle, as (rows, cols, 4)."""
    data = h.page.evaluate(
        """([sel, r]) => {
            const c = document.querySelector(sel);
            const b = c.getBoundingClientRect();
            const k = c.width / b.width;
            const x = Math.round((r.x - b.left) * k), y = Math.round((r.y - b.top) * k);
            const w = Math.max(1, Math.round(r.w * k)), hh = Math.max(1, Math.round(r.h * k));
            return {w, h: hh, d: Array.from(c.getContext("2d").getImageData(x, y, w, hh).data)};
        }""",
        [selector, rect],
    )
    return np.array(data["d"], np.uint8).reshape(data["h"], data["w"], 4)


def box(slices: tuple[slice, ...]) -> list[int]:
    return [slices[0].start, slices[0].stop, slices[1].start, slices[1].stop]


def test_overview_is_the_default_view_and_shows_every_layer(
    harness_page: Harness, linked_widget: Any
) -> None:
    h = harness_page
    mount(h, linked_widget)
    assert h.root.get_attribute("data-view") == "overview"
    assert h.root.locator(".fmw-gridview").is_hidden()
    cols = h.root.locator(".fmw-ov-col")
    names = [cols.nth(k).get_attribute("data-layer") for k in range(cols.count())]
    assert names == linked_widget.fm.names  # one column per entry, the raw `+` included
    shapes = [cols.nth(k).locator(".fmw-ov-shape").inner_text() for k in range(cols.count())]
    assert shapes[:5] == [
        f"20{X}20{X}3",
        f"10{X}10{X}4",
        f"10{X}10{X}4",
        f"5{X}5{X}4",
        f"5{X}5{X}4",
    ]
    assert shapes[7:] == ["27", "5"]
    kinds = [cols.nth(k).get_attribute("data-kind") for k in range(cols.count())]
    assert kinds == ["map"] * 5 + ["op", "map", "box", "box"]
    # thumbnails come from get_thumbs; no layer's full maps were asked for
    requests = h.kernel.requests
    assert {q["type"] for q in requests} == {"get_thumbs"}
    asked = [name for q in requests for name in q["layers"]]
    assert sorted(asked) == sorted(n for n in linked_widget.fm.names if n != "add")
    # every map shown is painted: many colours inside c1's thumbnails
    for slot in range(4):
        px = pixels(h, ".fmw-ov-base", thumb_rect(h, "c1", slot))
        assert len({tuple(p) for p in px.reshape(-1, 4)}) >= 8
    assert h.page_errors == []


def test_hovering_a_cell_links_exactly_the_cells_keras_geometry_says(
    harness_page: Harness, linked_widget: Any
) -> None:
    h = harness_page
    fm = linked_widget.fm
    mount(h, linked_widget)
    spatial = [i for i in fm.layers[1:] if i.spatial_shape is not None]
    for info in spatial:
        if info.is_op:  # a small node without thumbnails
            continue
        rows, cols = info.spatial_shape
        for r, c in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 3)]:
            fields = hover(h, info.name, (rows, cols), r, c)
            got = fields["reads"]["input"]["box"]
            assert got == box(fm.receptive_field(info.name, (r, c))), (info.name, r, c)
            assert "head" in fields["readBy"]  # the dense head reads every cell
    # from an input pixel: its projective field in every later layer
    for pixel in [(0, 0), (19, 19), (7, 12)]:
        fields = hover(h, "input", (20, 20), *pixel)
        for info in spatial:
            want = box(fm.projective_field(info.name, pixel))
            if want[0] == want[1]:
                assert info.name not in fields["readBy"]
            else:
                assert fields["readBy"][info.name]["box"] == want, (info.name, pixel)
    # channels: an activation and a pooling read their own map; a conv reads them all
    fields = hover(h, "p1", (5, 5), 2, 3, slot=1)
    assert fields["reads"]["r1"]["ch"] == [1] and fields["reads"]["c1"]["ch"] == [1]
    assert fields["reads"]["input"]["ch"] is None
    assert fields["readBy"]["c2"]["ch"] is None and fields["readBy"]["add"]["ch"] is None
    assert h.page_errors == []


def test_linked_cells_are_drawn_where_they_are(harness_page: Harness, linked_widget: Any) -> None:
    """Pixels: orange exactly over the receptive field in the input, blue over readers."""
    h = harness_page
    fm = linked_widget.fm
    mount(h, linked_widget)
    hover(h, "c3", (3, 3), 1, 2)
    rows, cols = (
        box(fm.receptive_field("c3", (1, 2)))[:2],
        box(fm.receptive_field("c3", (1, 2)))[2:],
    )
    for slot in range(3):  # every channel of the input: c1 reads them all
        rect = thumb_rect(h, "input", slot)
        px = pixels(h, ".fmw-ov-links", rect)
        k = px.shape[0] / 20
        hit = np.all(px[..., :3] == ORANGE, axis=-1) & (px[..., 3] == 255)
        ys, xs = np.nonzero(hit)
        assert ys.size > 0
        # every orange pixel lies in the field's box (one pixel of slack for rounding)
        assert ys.min() >= rows[0] * k - 1 and ys.max() <= rows[1] * k + 1
        assert xs.min() >= cols[0] * k - 1 and xs.max() <= cols[1] * k + 1
        # and the box's edges are drawn: near each of its four sides
        assert ys.min() <= rows[0] * k + 2 and ys.max() >= rows[1] * k - 3
    # the flatten box and the head are read-by (blue), under their labels
    assert h.root.locator(".fmw-ov-col[data-layer='flat']").count() == 1
    under = thumb_rect(h, "c1", 0)
    band = {"x": under["x"], "y": under["y"] - 8, "w": under["w"], "h": 6}
    assert np.any(np.all(pixels(h, ".fmw-ov-links", band)[..., :3] == ORANGE, axis=-1))
    hover(h, "input", (20, 20), 3, 3)
    px = pixels(h, ".fmw-ov-links", thumb_rect(h, "p1", 0))
    assert np.any(np.all(px[..., :3] == BLUE, axis=-1))
    h.page.mouse.move(1, 1)  # leaving clears the marks
    h.page.wait_for_function("() => !document.querySelector('.fmw-ov-readout').dataset.layer")
    px = pixels(h, ".fmw-ov-links", thumb_rect(h, "p1", 0))
    assert not np.any(px[..., 3])


def test_click_a_column_opens_its_grid_and_a_cell_traces_it(
    harness_page: Harness, linked_widget: Any
) -> None:
    h = harness_page
    fm = linked_widget.fm
    mount(h, linked_widget)
    h.root.locator(".fmw-ov-col[data-layer='p1']").click()
    h.page.wait_for_function("() => window.__fmwModel.get('view') === 'grid'")
    assert h.get("layer") == "p1"
    h.page.wait_for_function(
        "() => (document.querySelector('.fmw-info')?.textContent ?? '')"
        ".startsWith('4 maps of 5\u00d75')"
    )
    assert h.root.locator(".fmw-overview").is_hidden()
    assert any(q["type"] == "get_layer" and q["layer"] == "p1" for q in h.kernel.requests)
    # back to the network, then a cell of r1's map 2: the grid opens on it, traced
    h.root.locator(".fmw-tab[data-view='overview']").click()
    h.page.wait_for_function("() => window.__fmwModel.get('view') === 'overview'")
    x, y = cell_point(thumb_rect(h, "r1", 2), (10, 10), 4, 6)
    h.page.mouse.click(x, y)
    target = h.wait_for_trait("trace_target")
    assert target == {"layer": "r1", "filter": 2, "row": 4, "col": 6}
    assert h.get("selected_filters") == [2] and h.get("view") == "grid"
    step = h.root.locator(".fmw-trace-step").last
    step.wait_for()
    value = float(step.inner_text().split("value ")[1].split()[0].replace("\u2212", "-"))
    assert value == pytest.approx(float(fm["r1"][0, 4, 6, 2]), rel=5e-3, abs=1e-6)
    assert h.page_errors == []


def colour_at(h: Harness, selector: str, x: float, y: float) -> tuple[int, ...]:
    px = pixels(h, selector, {"x": x - 0.5, "y": y - 0.5, "w": 1, "h": 1})
    return tuple(int(v) for v in px[0, 0])


def test_one_value_one_colour_in_the_overview_the_grid_and_the_trace(
    harness_page: Harness, linked_widget: Any
) -> None:
    """A positive value of c1 and the same value after ReLU (r1) are the same colour."""
    h = harness_page
    fm = linked_widget.fm
    c1, r1 = fm["c1"][0], fm["r1"][0]
    cells = [tuple(int(v) for v in rc) for rc in np.argwhere(c1[..., 0] > 0.05)[:4]]
    assert cells and all(r1[r, c, 0] == c1[r, c, 0] for r, c in cells)
    neg = tuple(int(v) for v in np.argwhere(c1[..., 0] < -0.05)[0])
    mount(h, linked_widget, colormap_range="global")
    overview = []
    for r, c in cells:  # overview, one scale for all layers
        a = colour_at(h, ".fmw-ov-base", *cell_point(thumb_rect(h, "c1"), (10, 10), r, c))
        b = colour_at(h, ".fmw-ov-base", *cell_point(thumb_rect(h, "r1"), (10, 10), r, c))
        assert a == b, (r, c, a, b)
        overview.append(a)
    a = colour_at(h, ".fmw-ov-base", *cell_point(thumb_rect(h, "c1"), (10, 10), *neg))
    b = colour_at(h, ".fmw-ov-base", *cell_point(thumb_rect(h, "r1"), (10, 10), *neg))
    assert a[2] > a[0] and b[0] >= b[2]  # negative: blue; ReLU made it 0: white-ish, not blue
    # the trace: conv (pre-activation) and ReLU cards on one range: the traced cell agrees
    r, c = cells[0]
    h.kernel_set("view", "grid")
    h.kernel_set("trace_target", {"layer": "r1", "filter": 0, "row": r, "col": c})
    minis = h.root.locator(".fmw-trace-step canvas.fmw-trace-map")
    h.page.wait_for_function(
        "() => [...document.querySelectorAll('.fmw-trace-step canvas')].every(c => c.width > 0)"
        " && !document.querySelector('.fmw-trace-scale').hidden"
    )
    assert minis.count() == 3  # c1 (conv), r1 (its ReLU), p1 (the pool that reads it)
    window = {(r // 2 * 2 + i, c // 2 * 2 + j) for i in range(2) for j in range(2)}
    others = [rc for rc in (tuple(int(v) for v in a) for a in np.argwhere(c1[..., 0] > 0.05))]
    others = [rc for rc in others if rc not in window][:6]  # no trace marks drawn on them
    assert others
    for rr, cc in others:
        got = []
        for k in range(2):
            scale = minis.nth(k).bounding_box()["width"] / 10
            got.append(colour_at_locator(minis.nth(k), (cc + 0.5) * scale, (rr + 0.5) * scale))
        assert got[0] == got[1], (rr, cc, got)
    # the grid, per layer and global alike: filter 0's cell in c1 and in r1
    grid = []
    for layer in ("c1", "r1"):
        h.kernel_set("layer", layer)  # the view says "loading…" until the new maps are painted
        h.page.wait_for_function(
            "() => (document.querySelector('.fmw-info')?.textContent ?? '').includes('maps of')"
        )
        info = h.root.locator(".fmw-info").inner_text()
        zoom = int(info.split(f"zoom {X}")[1].split()[0])
        grid.append(
            colour_at_locator(
                h.root.locator(".fmw-grid"), 2 + (c + 0.5) * zoom, 2 + (r + 0.5) * zoom
            )
        )
    assert grid[0] == grid[1] == overview[0]  # and the same colour as in the overview
    assert h.page_errors == []


def colour_at_locator(canvas: Any, x: float, y: float) -> tuple[int, ...]:
    """RGBA at CSS point (x, y) of a canvas (its own pixels, scaled)."""
    return tuple(
        canvas.evaluate(
            """(c, [x, y]) => {
                const b = c.getBoundingClientRect(), k = c.width / b.width;
                return Array.from(c.getContext("2d").getImageData(
                    Math.floor(x * k), Math.floor(y * k), 1, 1).data);
            }""",
            [x, y],
        )
    )


def deep_model(blocks: int = 24) -> keras.Model:
    """A long network of named blocks (stage/block/layer), a few hundred entries."""
    keras.utils.set_random_seed(4)
    x = inp = keras.Input((12, 12, 2), name="image")
    for b in range(blocks):
        name = f"stage{b // 8 + 1}_block{b % 8 + 1}"
        y = L.Conv2D(4, 3, padding="same", name=f"{name}_conv")(x)
        y = L.BatchNormalization(name=f"{name}_bn")(y)
        y = L.ReLU(name=f"{name}_relu")(y)
        y = L.Conv2D(4, 1, name=f"{name}_proj")(y)
        x = L.Add(name=f"{name}_add")([y, x]) if b else y
    return keras.Model(inp, L.GlobalAveragePooling2D(name="gap")(x), name="deep")


def test_a_long_network_starts_collapsed_and_asks_only_for_what_is_in_view(
    harness_page: Harness,
) -> None:
    from fmwidget import FeatureMapWidget

    h = harness_page
    x = np.random.default_rng(6).random((12, 12, 2), dtype=np.float32)
    w = FeatureMapWidget(deep_model(), x)
    n = len(w.fm.layers)
    assert n > 110
    mount(h, w)
    view = h.root.locator(".fmw-overview")
    columns = int(view.get_attribute("data-columns"))
    assert columns <= 40  # the stages collapse into blocks
    heads = h.root.locator(".fmw-ov-col")
    assert 0 < heads.count() < columns  # only the columns in view have DOM
    asked = {name for q in h.kernel.requests for name in q["layers"]}
    assert 0 < len(asked) < n  # thumbnails for what is (nearly) in view, not every layer
    assert {q["type"] for q in h.kernel.requests} == {"get_thumbs"}
    first = heads.nth(1)
    assert first.get_attribute("data-group") and "▸" in first.inner_text()
    first.click()  # open the block: its layers become columns
    h.page.wait_for_function(
        "(c) => +document.querySelector('.fmw-overview').dataset.columns > c", arg=columns
    )
    h.page.wait_for_selector('.fmw-overview[data-pending="0"]')
    names = [heads.nth(k).get_attribute("data-layer") for k in range(heads.count())]
    assert "stage1_block1_bn" in names
    # scrolled to the end: the last columns get painted, their thumbnails asked for then
    h.page.evaluate(
        "() => { const s = document.querySelector('.fmw-ov-scroll');"
        " s.scrollLeft = s.scrollWidth; }"
    )
    h.page.wait_for_function("() => !!document.querySelector(\".fmw-ov-col[data-layer='gap']\")")
    h.page.wait_for_selector('.fmw-overview[data-pending="0"]')
    assert "gap" in {name for q in h.kernel.requests for name in q["layers"]}
    assert h.page_errors == []
