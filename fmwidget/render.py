"""Render the widget's current layer (and its input) to PNG or SVG in Python, no browser needed.

Colours are the widget's own: the same 256-entry tables the browser builds from
d3-scale-chromatic (``RdBu`` sampled at bin centres, its positive half for non-negative
maps), the same choice of diverging or sequential scale and the same range modes
(``colormap_range``), so a map saved here has, cell for cell, the colours the grid paints.
Works whether or not the widget was ever displayed (a script, a batch job).
"""

from __future__ import annotations

import base64
import io
import math
import pathlib
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

LUT_SIZE = 256
BAD_COLOR = (255, 0, 255)
# d3-scale-chromatic's 11-class RdBu scheme (red ... blue), interpolated as d3 does (B-spline).
_RDBU = "67001fb2182bd6604df4a582fddbc7f7f7f7d1e5f092c5de4393c32166ac053061"
#: Target size of one map in the picture (pixels on its longer side).
MAP_PX = 96
GAP = 6
LABEL = 14
BAR = 8
MARGIN = 8


def _basis(t1: float, v0: float, v1: float, v2: float, v3: float) -> float:
    t2, t3 = t1 * t1, t1 * t1 * t1
    return (
        (1 - 3 * t1 + 3 * t2 - t3) * v0
        + (4 - 6 * t2 + 3 * t3) * v1
        + (1 + 3 * t1 + 3 * t2 - 3 * t3) * v2
        + t3 * v3
    ) / 6


def _rgb_basis(colors: list[tuple[int, int, int]], t: float) -> tuple[int, int, int]:
    """d3.interpolateRgbBasis(colors)(t), rounded as d3-color formats it."""
    n = len(colors) - 1
    if t <= 0:
        t, i = 0.0, 0
    elif t >= 1:
        t, i = 1.0, n - 1
    else:
        i = math.floor(t * n)
    out = []
    for ch in range(3):
        v1, v2 = colors[i][ch], colors[i + 1][ch]
        v0 = colors[i - 1][ch] if i > 0 else 2 * v1 - v2
        v3 = colors[i + 2][ch] if i < n - 1 else 2 * v2 - v1
        v = _basis((t - i / n) * n, v0, v1, v2, v3)
        out.append(max(0, min(255, math.floor(v + 0.5))))
    return out[0], out[1], out[2]


def _diverging_lut() -> np.ndarray:
    colors = [tuple(int(_RDBU[k + j : k + j + 2], 16) for j in (0, 2, 4)) for k in range(0, 66, 6)]
    # the widget orients RdBu so negative is blue: RdBu(t) = interpolateRdBu(1 - t)
    return np.array(
        [_rgb_basis(colors, 1 - (i + 0.5) / LUT_SIZE) for i in range(LUT_SIZE)], np.uint8
    )


DIVERGING_LUT = _diverging_lut()
#: The diverging table's positive half, stretched (``upperHalf`` in js/colormap.ts).
SEQUENTIAL_LUT = DIVERGING_LUT[LUT_SIZE // 2 + np.arange(LUT_SIZE) // 2]


def colorize(values: np.ndarray, m: float, diverging: bool) -> np.ndarray:
    """RGB uint8 of ``values`` on [-m, m] (diverging) or [0, m], as the browser maps them."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    if not (m > 0 and math.isfinite(m)):
        scale, offset = 0.0, (LUT_SIZE / 2 if diverging else 0.0)
    elif diverging:
        scale, offset = LUT_SIZE / (2 * m), LUT_SIZE / 2
    else:
        scale, offset = LUT_SIZE / m, 0.0
    idx = np.clip(np.floor(np.where(ok, v, 0) * scale + offset), 0, LUT_SIZE - 1).astype(int)
    out = (DIVERGING_LUT if diverging else SEQUENTIAL_LUT)[idx]
    out[~ok] = BAD_COLOR
    return out


@dataclass
class Picture:
    """What was drawn, and where (pixels of the saved image; SVG user units)."""

    layer: str
    width: int
    height: int
    #: Per map: ``(channel, x, y, pixels_per_cell)`` of its top-left corner.
    maps: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: ``(x, y, pixels_per_cell)`` of the input panel, or None.
    input: tuple[int, int, int] | None = None
    #: ``m`` and whether the scale is diverging, per map channel.
    ranges: dict[int, tuple[float, bool]] = field(default_factory=dict)
    #: ``(x, y, width)`` of the colour bar (the largest range's scale), under the input.
    bar: tuple[int, int, int] | None = None


def _input_rgb(x: np.ndarray, data_format: str) -> np.ndarray:
    """The input image as RGB, linearly from its min (black) to its max (white)."""
    img = np.moveaxis(x, 0, -1) if data_format == "channels_first" else x
    if img.ndim == 2:
        img = img[None]
    img = img[..., :3] if img.shape[-1] >= 3 else np.repeat(img[..., :1], 3, -1)
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    span = hi - lo if hi > lo else 1.0
    return np.clip(np.floor((img - lo) / span * 255 + 0.5), 0, 255).astype(np.uint8)


def layer_pictures(widget: Any, layer: str | None = None) -> tuple[Picture, list, Any]:
    """Lays out ``layer`` (default: the widget's) and colours its maps as the grid does."""
    fm = widget.fm
    info = fm.info(layer or widget.layer)
    if not info.spatial or info.channels is None:
        raise ValueError(
            f"Expected a layer with spatial maps, received {info.name!r} of shape {info.shape}."
        )
    spec = next(d for d in widget.layers if d["name"] == info.name)
    arr = fm[info.name][widget.sample]
    maps = np.moveaxis(arr, -1, 0) if info.data_format != "channels_first" else arr
    if maps.ndim == 2:
        maps = maps[:, None, :]
    n, hgt, wid = maps.shape
    lo, hi = float(spec["min"]), float(spec["max"])
    diverging = lo < 0 or (bool(spec["signed"]) and not spec.get("fused_activation"))
    mode = widget.colormap_range
    tiles, ranges = [], {}
    for c in range(n):
        if mode == "map":
            finite = maps[c][np.isfinite(maps[c])]
            a, b = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        elif mode == "global":
            a, b = min(widget._global_range[0], lo), max(widget._global_range[1], hi)
        else:
            a, b = lo, hi
        m = max(abs(a) if math.isfinite(a) else 0.0, abs(b) if math.isfinite(b) else 0.0)
        ranges[c] = (m, diverging)
        tiles.append(colorize(maps[c], m, diverging))
    k = max(1, MAP_PX // max(hgt, wid))
    cols = max(1, math.ceil(math.sqrt(n * 4 / 3)))
    x_in = fm.input[widget.sample]
    in_rgb = _input_rgb(x_in, fm.layers[0].data_format or "channels_last")
    ki = max(1, 2 * MAP_PX // max(in_rgb.shape[:2]))
    left = MARGIN + in_rgb.shape[1] * ki + 2 * GAP
    top = MARGIN + LABEL + GAP
    pic = Picture(info.name, 0, 0, input=(MARGIN, top + LABEL, ki), ranges=ranges)
    for c in range(n):
        r, q = divmod(c, cols)
        x = left + q * (wid * k + GAP)
        y = top + LABEL + r * (hgt * k + GAP + LABEL)
        pic.maps.append((c, x, y, k))
    rows = math.ceil(n / cols)
    pic.width = left + cols * (wid * k + GAP) + MARGIN
    bar_y = top + LABEL + in_rgb.shape[0] * ki + 2 * GAP
    pic.bar = (MARGIN, bar_y, in_rgb.shape[1] * ki)
    pic.height = max(top + LABEL + rows * (hgt * k + GAP + LABEL), bar_y + BAR + LABEL) + MARGIN
    return pic, tiles, in_rgb


def _bar(pic: Picture) -> tuple[np.ndarray, str, str]:
    """The colour bar (one row of the table) and its end labels: the layer mode's scale."""
    m, diverging = max(pic.ranges.values(), default=(0.0, True))
    lut = DIVERGING_LUT if diverging else SEQUENTIAL_LUT
    lo = f"{-m:.3g}" if diverging else "0"
    return lut[None], lo, f"{m:.3g}"


def _title(pic: Picture, spec_shape: Any, mode: str) -> str:
    dims = "x".join(str(d) for d in spec_shape)
    return f"{pic.layer}   {dims}   colours: per {mode}"


def save_png(widget: Any, path: str | pathlib.Path, layer: str | None = None) -> Picture:
    """Writes the layer's maps (and the input, left) as a PNG; returns the layout."""
    pic, tiles, in_rgb = layer_pictures(widget, layer)
    pil = _pil()
    img = pil.Image.new("RGB", (pic.width, pic.height), "white")
    draw = pil.ImageDraw.Draw(img)
    draw.text(
        (MARGIN, MARGIN), _title(pic, widget.fm.info(pic.layer).shape, _mode(widget)), "black"
    )
    x0, y0, ki = pic.input  # type: ignore[misc]
    draw.text((x0, y0 - LABEL), "input", "black")
    img.paste(_upscale(in_rgb, ki), (x0, y0))
    for (c, x, y, k), tile in zip(pic.maps, tiles, strict=True):
        draw.text((x, y - LABEL), f"map {c}", (90, 90, 90))
        img.paste(_upscale(tile, k), (x, y))
    if pic.bar:
        bx, by, bw = pic.bar
        row, lo, hi = _bar(pic)
        img.paste(pil.Image.fromarray(row, "RGB").resize((bw, BAR), pil.Image.NEAREST), (bx, by))
        draw.text((bx, by + BAR + 2), lo, "black")
        draw.text((bx + bw - 6 * len(hi), by + BAR + 2), hi, "black")
    img.save(path, format="PNG")
    return pic


def save_svg(widget: Any, path: str | pathlib.Path, layer: str | None = None) -> Picture:
    """Writes the layer's maps as an SVG: vector labels, each map a pixel-exact embedded PNG."""
    pic, tiles, in_rgb = layer_pictures(widget, layer)
    _pil()
    title = _title(pic, widget.fm.info(pic.layer).shape, _mode(widget))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{pic.width}" height="{pic.height}" '
        f'viewBox="0 0 {pic.width} {pic.height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{pic.width}" height="{pic.height}" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 10}">{escape(title)}</text>',
    ]

    def image(rgb: np.ndarray, x: int, y: int, k: int, name: str) -> str:
        h, w = rgb.shape[:2]
        return (
            f'<image x="{x}" y="{y}" width="{w * k}" height="{h * k}" data-name={quoteattr(name)} '
            f'style="image-rendering:pixelated" preserveAspectRatio="none" '
            f'href="data:image/png;base64,{_png_b64(rgb)}"/>'
        )

    x0, y0, ki = pic.input  # type: ignore[misc]
    parts.append(f'<text x="{x0}" y="{y0 - 3}">input</text>')
    parts.append(image(in_rgb, x0, y0, ki, "input"))
    for (c, x, y, k), tile in zip(pic.maps, tiles, strict=True):
        parts.append(f'<text x="{x}" y="{y - 3}" fill="#5a5a5a">map {c}</text>')
        parts.append(image(tile, x, y, k, f"map {c}"))
    if pic.bar:
        bx, by, bw = pic.bar
        row, lo, hi = _bar(pic)
        parts.append(
            image(row, bx, by, 1, "colour bar").replace(
                f'width="{LUT_SIZE}" height="1"', f'width="{bw}" height="{BAR}"'
            )
        )
        parts.append(f'<text x="{bx}" y="{by + BAR + 12}">{escape(lo)}</text>')
        parts.append(
            f'<text x="{bx + bw}" y="{by + BAR + 12}" text-anchor="end">{escape(hi)}</text>'
        )
    parts.append("</svg>")
    pathlib.Path(path).write_text("\n".join(parts), encoding="utf-8")
    return pic


def _pil() -> Any:
    """Pillow, imported when a picture is saved (the ``export`` extra)."""
    try:
        import PIL.Image
        import PIL.ImageDraw
    except ImportError as err:
        raise ImportError(
            "Saving pictures needs Pillow: pip install 'fmwidget[export]' (or pillow)."
        ) from err
    return PIL


def _mode(widget: Any) -> str:
    return {"map": "map", "layer": "layer", "global": "all layers"}[widget.colormap_range]


def _upscale(rgb: np.ndarray, k: int) -> Any:
    return _pil().Image.fromarray(np.repeat(np.repeat(rgb, k, 0), k, 1), "RGB")


def _png_b64(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    _pil().Image.fromarray(rgb, "RGB").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
