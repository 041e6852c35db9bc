"""The static HTML export: one self-contained file, the kernel's exact bytes, exact pool tables."""

from __future__ import annotations

import base64
import html.parser
import json
import re
import zlib
from typing import Any

import keras
import numpy as np
import pytest
from helpers import L

import fmwidget
from fmwidget import export
from fmwidget.replies import layer_reply
from fmwidget.widget import FeatureMapWidget

# Keras refuses "/" in names (so no "</script>") and torch refuses "." in weight names;
# "<!--<script>" would derail the HTML parser.
HOSTILE = '<img src=x onerror="__pwned=1"><!--<script>'


def tie_image(h: int, w: int, c: int) -> np.ndarray:
    """Constant blocks (exact ties after any conv) next to a smooth ramp and zeros."""
    yy, xx = np.mgrid[:h, :w].astype("float32")
    img = np.stack([np.sin(yy / 3 + k) * np.cos(xx / 4) for k in range(c)], axis=-1)
    img[: h // 2, : w // 2] = 0.5  # constant block
    img[h // 2 :, w // 2 :] = 0.0
    return img.astype("float32")


def pools_cnn(name: str = "pools_cnn", conv_name: str = "c1") -> keras.Model:
    """Odd sizes, overlapping and clipped max-pool windows, a (2, 3) pool, an average pool."""
    keras.utils.set_random_seed(7)
    inp = keras.Input((20, 23, 2))
    x = L.Conv2D(5, 3, padding="same", activation="relu", name=conv_name)(inp)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="p1")(x)
    x = L.Conv2D(6, 2, name="c2")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Activation("relu", name="act")(x)
    x = L.MaxPooling2D((2, 3), name="p2")(x)
    x = L.Conv2D(4, 1, activation="relu", name="c3")(x)
    x = L.AveragePooling2D(2, padding="same", name="avg")(x)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(3, name="head")(x)
    return keras.Model(inp, out, name=name)


def conv1d_net() -> keras.Model:
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((31, 2)),
            L.Conv1D(3, 3, activation="relu", name="c"),
            L.MaxPooling1D(3, strides=2, padding="same", name="p"),
        ],
        name="conv1d_net",
    )


@pytest.fixture(scope="module")
def widget() -> FeatureMapWidget:
    return FeatureMapWidget(pools_cnn(), tie_image(20, 23, 2))


@pytest.fixture(scope="module")
def exported(widget: FeatureMapWidget, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("export") / "pools.html"
    report = widget.save_html(path)
    return report, path.read_text(encoding="utf-8")


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._current = dict(attrs).get("id") if tag == "script" else None

    def handle_endtag(self, tag: str) -> None:
        self._current = None

    def handle_data(self, data: str) -> None:
        if self._current:
            self.data[self._current] = self.data.get(self._current, "") + data


def _parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    return p


def _manifest(tags: _Tags) -> dict[str, Any]:
    return json.loads(tags.data["fmw-manifest"])


def _blob(tags: _Tags, ref: dict[str, Any]) -> bytes:
    raw = base64.b64decode(tags.data[ref["blob"]])
    data = zlib.decompress(raw) if ref["codec"] == "deflate" else raw
    assert len(data) == ref["size"]
    return data


def test_one_self_contained_file(exported: Any) -> None:
    report, page = exported
    assert report.bytes == len(page.encode("utf-8"))
    tags = _parse(page)
    names = [t for t, _ in tags.tags]
    assert names.count("html") == 1 and names.count("body") == 1
    # No external resource of any kind: no src/href attributes at all, no <link>/<iframe>/<img>.
    for tag, attrs in tags.tags:
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
    # The only script that runs is the one inline module; the rest is inert data.
    types = [attrs.get("type") for tag, attrs in tags.tags if tag == "script"]
    assert types.count("module") == 1
    assert set(types) == {"module", "application/json", "application/octet-stream"}
    # The page forbids every fetch (Content-Security-Policy default-src 'none').
    csp = [a for t, a in tags.tags if t == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in str(csp[0].get("content"))
    # Outside the bundle's own code, no URL appears at all.
    bundle = export._BUNDLE.read_text(encoding="utf-8")
    outside = page.replace(export._script_for_html(bundle), "")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", outside, re.I)


def test_payloads_are_the_kernels_exact_messages(exported: Any, widget: FeatureMapWidget) -> None:
    _, page = exported
    tags = _parse(page)
    manifest = _manifest(tags)
    seen = set()
    for entry in manifest["maps"]:
        header, payload = export.one_message(
            *layer_reply(
                widget, {"layer": entry["layer"], "pre_activation": entry["pre_activation"]}
            )
        )
        header.pop("request_id")
        # the layer's receptive-field tables move to the page's layers (one copy per layer)
        spec = next(s for s in manifest["state"]["layers"] if s["name"] == entry["layer"])
        assert spec["receptive_field"] == json.loads(json.dumps(header.pop("receptive_field")))
        assert entry["header"] == json.loads(json.dumps(header))
        assert _blob(tags, entry) == bytes(payload)
        seen.add((entry["layer"], entry["pre_activation"]))
    fm = widget.fm
    want = {(i.name, False) for i in fm.layers if i.shape}
    want |= {(i.name, True) for i in fm.layers if i.fused_activation}
    assert seen == want
    state = manifest["state"]
    # the widget's layers plus every layer's receptive-field tables (all checked above)
    without = [{k: v for k, v in s.items() if k != "receptive_field"} for s in state["layers"]]
    assert without == json.loads(json.dumps(widget.layers))
    assert all("receptive_field" in s for s in state["layers"])
    assert state["layer"] == widget.layer and state["data_version"] == widget.data_version


def test_max_pool_tables_equal_pool_source_everywhere(
    exported: Any, widget: FeatureMapWidget
) -> None:
    fm = widget.fm
    tags = _parse(exported[1])
    geometry = _manifest(tags)["geometry"]
    checked = 0
    for name in ("p1", "p2"):
        pool = geometry[name]["pool"]
        info = fm.info(name)
        rows, cols = np.array(pool["rows"]), np.array(pool["cols"])
        argmax = np.frombuffer(_blob(tags, pool["argmax"]), dtype=pool["argmax"]["dtype"])
        argmax = argmax.reshape(pool["argmax"]["shape"])
        assert argmax.shape == (info.channels, *info.spatial_shape)
        for r in range(info.spatial_shape[0]):
            for c in range(info.spatial_shape[1]):
                win = fm.pool_window(name, (r, c))
                assert (win[0].start, win[0].stop) == tuple(rows[r])
                assert (win[1].start, win[1].stop) == tuple(cols[c])
                width = cols[c, 1] - cols[c, 0]
                for ch in range(info.channels):
                    k = int(argmax[ch, r, c])
                    got = (rows[r, 0] + k // width, cols[c, 0] + k % width)
                    assert got == fm.pool_source(name, (r, c), ch), (name, r, c, ch)
                    checked += 1
    assert checked == 10 * 12 * 5 + 4 * 3 * 6
    # the input has exact ties (constant blocks, ReLU zeros): they must go to the first cell
    x = fm["c1"][0]
    assert np.sum(x == 0) > 100
    avg = geometry["avg"]["pool"]
    assert avg["argmax"] is None and len(avg["rows"]) == 2


def test_tie_bits_say_which_cells_equal_their_first_windows_winner(
    exported: Any, widget: FeatureMapWidget
) -> None:
    """The bits a static trace reads for "hold the same value", from the float32 maps."""
    fm = widget.fm
    tags = _parse(exported[1])
    geometry = _manifest(tags)["geometry"]
    counts = [0, 0]
    for name in ("p1", "p2"):
        ties = geometry[name]["pool"]["ties"]
        src = fm.info(fm.info(name).inputs[0])
        bits = np.frombuffer(_blob(tags, ties), np.uint8)
        got = np.unpackbits(bits, bitorder="little")[: int(np.prod(ties["shape"]))]
        got = got.reshape(ties["shape"]).astype(bool)
        assert got.shape == (src.channels, *src.spatial_shape)
        for r, c in np.ndindex(*src.spatial_shape):
            holders = np.argwhere(fm.cells_reading(name, (r, c)))
            for ch in range(src.channels):
                want = False
                if len(holders):
                    win = fm.pool_source(name, tuple(int(v) for v in holders[0]), ch)
                    want = bool(fm[src.name][(0, *win, ch)] == fm[src.name][0, r, c, ch])
                assert got[ch, r, c] == want, (name, r, c, ch)
                counts[want] += 1
    assert counts[0] > 100 and counts[1] > 100  # ties (ReLU zeros, constant blocks) and not


def test_bytes_per_value(tmp_path: Any) -> None:
    """Plain base64 float16 is 2.67 bytes per value; the nonzero mask packing of ReLU maps and
    zlib compression only make it smaller."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            L.Conv2D(32, 3, padding="same", activation="relu", name="c1"),
            L.MaxPooling2D(2, name="p1"),
            L.Conv2D(32, 3, padding="same", activation="relu", name="c2"),
        ],
        name="size_cnn",
    )
    w = FeatureMapWidget(model, tie_image(64, 64, 3))
    raw = fmwidget.save_html(w, tmp_path / "raw.html", compress=False)
    packed = w.save_html(tmp_path / "packed.html")
    n = 64 * 64 * 3 + 2 * 64 * 64 * 32 + 32 * 32 * 32 + 2 * 32 * 32 * 32
    assert raw.values == packed.values == n
    wanted = [(i.name, False) for i in w.fm.layers]
    wanted += [(i.name, True) for i in w.fm.layers if i.fused_activation]
    messages = [
        export.one_message(*layer_reply(w, {"layer": name, "pre_activation": pre}))
        for name, pre in wanted
    ]
    assert raw.payload_bytes == sum(4 * -(-p.nbytes // 3) for _, p in messages)  # base64
    sparse = {(h["layer"], h["pre_activation"]) for h, _ in messages if "nonzero" in h}
    assert {("c1", False), ("p1", False), ("c2", False)} <= sparse  # ReLU maps: many zeros
    assert raw.payload_bytes / raw.values < 0.85 * 8 / 3
    # the rest of the file is the bundle (~85 kB, once per file) and a few kB of JSON
    bundle = len(export._BUNDLE.read_bytes())
    assert raw.bytes < raw.payload_bytes + raw.table_bytes + bundle + 20_000
    assert raw.table_bytes < 0.2 * raw.payload_bytes  # 1 byte per pooled value, base64
    assert packed.bytes < raw.bytes and packed.bytes_per_value < 2.7
    print(
        f"\n{n} values: {raw.bytes_per_value:.3f} B/value plain, "
        f"{packed.bytes_per_value:.3f} B/value compressed"
    )
    # without pre-activation maps, the two fused convs' second copies are gone
    lean = w.save_html(tmp_path / "lean.html", pre_activation=False)
    assert lean.values == n - 64 * 64 * 32 - 32 * 32 * 32


def test_hostile_names_cannot_leave_their_element(tmp_path: Any) -> None:
    w = FeatureMapWidget(pools_cnn(name=HOSTILE, conv_name=HOSTILE), tie_image(20, 23, 2))
    page = w.save_html(tmp_path / "hostile.html").path.read_text(encoding="utf-8")
    assert "<img" not in page and "<!--<script>" not in page
    tags = _parse(page)
    assert [t for t, _ in tags.tags].count("img") == 0
    manifest = _manifest(tags)
    assert manifest["state"]["model_name"] == HOSTILE
    assert manifest["state"]["layers"][1]["name"] == HOSTILE
    assert HOSTILE in {m["layer"] for m in manifest["maps"]}


def test_function_form_with_a_model(tmp_path: Any) -> None:
    model = conv1d_net()
    x = np.linspace(0, 1, 62, dtype="float32").reshape(31, 2)
    report = fmwidget.save_html(model, tmp_path / "m.html", x, layer="p", title="A & B")
    page = report.path.read_text(encoding="utf-8")
    assert "<title>A &amp; B</title>" in page
    state = _manifest(_parse(page))["state"]
    assert state["layer"] == "p"
    with pytest.raises(TypeError, match="without x"):
        fmwidget.save_html(model, tmp_path / "n.html")
