/**
 * Canvas drawing for the overview: thumbnails (through the one colour story), a layer's volume
 * glyph, compact boxes for vectors, small nodes for raw operations, brackets over expanded
 * blocks, and the outlines of linked cells. Text from the model is drawn with fillText only.
 */
import { type ColorRange, type Lut, mapToRgba, namedLut } from "../colormap";
import { ctx2d } from "../dom";
import { isDiverging, magnitude } from "../stats";
import type { LayerSpec, RangeMode } from "../types";
import { imageRange } from "../views/input";
import { DIVERGING_MAP, SEQUENTIAL_MAP } from "../views/paint";
import type { ColumnBox, Rect } from "./layout";
import type { Thumb } from "./thumbs";

export const READS_COLOR = "#ff8c00";
export const READ_BY_COLOR = "#0a84ff";
const EDGE = "#8c959f";

export interface Style {
  range: ColorRange;
  lut: Lut;
}

/**
 * The colour of map `channel` of a layer: diverging (RdBu on [−m, m]) or its positive half
 * on [0, m]; m by the range mode: the map's, the layer's, or every layer's largest magnitude.
 */
export function thumbStyle(
  spec: LayerSpec,
  t: Thumb,
  channel: number,
  mode: RangeMode,
  globalM: number,
): Style {
  const div = isDiverging(Boolean(spec.signed), false, t.min, Boolean(spec.fused_activation));
  const layerM = magnitude(t.min, t.max);
  let m = layerM;
  if (mode === "map" && !t.vector) m = magnitude(t.mapMin[channel] ?? 0, t.mapMax[channel] ?? 0);
  else if (mode === "global") m = Math.max(globalM, layerM);
  return {
    range: { lo: div ? -m : 0, hi: m, diverging: div },
    lut: namedLut(div ? DIVERGING_MAP : SEQUENTIAL_MAP),
  };
}

/** Largest finite magnitude over the spatial layers after the input (the "global" scope). */
export function globalMagnitude(specs: readonly LayerSpec[]): number {
  let m = 0;
  for (const s of specs.slice(1)) {
    if (s.spatial && typeof s.min === "number" && typeof s.max === "number") {
      m = Math.max(m, magnitude(s.min, s.max));
    }
  }
  return m;
}

/**
 * A layer's thumbnails as one small canvas: the maps stacked top to bottom at their own
 * resolution (drawn scaled up, unsmoothed). The input is drawn as an image: grey levels.
 */
export function thumbStrip(
  t: Thumb,
  style: (channel: number) => Style,
  image: boolean,
): HTMLCanvasElement {
  const strip = document.createElement("canvas");
  const n = Math.max(1, t.vector ? 1 : t.channels);
  strip.width = t.vector ? Math.max(1, t.channels) : t.width;
  strip.height = t.vector ? 1 : t.height * n;
  const ctx = ctx2d(strip);
  if (!ctx || strip.width === 0 || strip.height === 0) return strip;
  const img = ctx.createImageData(strip.width, strip.height);
  const stride = strip.width * 4;
  if (t.vector) {
    mapToRgba(t.values, 0, t.channels, 1, style(0).range, style(0).lut, {
      out: img.data,
      offset: 0,
      stride,
      scale: 1,
    });
  } else {
    const hw = t.height * t.width;
    const [lo, hi] = imageRange(t.min, t.max);
    for (let c = 0; c < t.channels; c++) {
      const st = image ? { range: { lo, hi, diverging: false }, lut: namedLut("greys") } : style(c);
      mapToRgba(t.values, c * hw, t.width, t.height, st.range, st.lut, {
        out: img.data,
        offset: c * t.height * stride,
        stride,
        scale: 1,
      });
    }
  }
  ctx.putImageData(img, 0, 0);
  return strip;
}

/** The input's first three channels as one RGB picture (the front face of its volume). */
export function rgbPicture(t: Thumb): HTMLCanvasElement | null {
  if (t.vector || t.channels < 3) return null;
  const c = document.createElement("canvas");
  c.width = t.width;
  c.height = t.height;
  const ctx = ctx2d(c);
  if (!ctx) return null;
  const img = ctx.createImageData(t.width, t.height);
  const [lo, hi] = imageRange(t.min, t.max);
  const s = 255 / (hi - lo || 1);
  const hw = t.width * t.height;
  for (let i = 0; i < hw; i++) {
    for (let ch = 0; ch < 3; ch++)
      img.data[i * 4 + ch] = ((t.values[ch * hw + i] as number) - lo) * s;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/** Draws part `slot` of a strip (one map) into a rectangle, pixels kept square and sharp. */
export function blit(
  ctx: CanvasRenderingContext2D,
  strip: HTMLCanvasElement,
  t: Thumb,
  slot: number,
  r: Rect,
): void {
  if (strip.width === 0) return;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(strip, 0, slot * t.height, t.width, t.height, r.x, r.y, r.w, r.h);
}

/**
 * A layer as a volume standing on `floor`: front face w × h (painted with `face`, the first
 * map), depth receding up-right, faint slices on top for its channels.
 */
export function drawVolume(
  ctx: CanvasRenderingContext2D,
  box: ColumnBox,
  floor: number,
  v: { w: number; h: number; dx: number; dy: number },
  channels: number,
  face: { strip: HTMLCanvasElement; t: Thumb; slot: number } | null,
  stacked = false,
): Rect {
  const x0 = Math.round(box.x + (box.w - v.w - v.dx) / 2) + 0.5;
  const y0 = Math.round(floor - v.h) + 0.5;
  const { w, h, dx, dy } = v;
  ctx.lineWidth = 1;
  if (stacked) {
    // a collapsed block: two more volumes peeking out behind
    for (const k of [6, 3]) {
      ctx.strokeStyle = "#afb8c1";
      ctx.fillStyle = "#f6f8fa";
      ctx.beginPath();
      ctx.rect(x0 + k, y0 - k, w, h);
      ctx.fill();
      ctx.stroke();
    }
  }
  ctx.strokeStyle = EDGE;
  poly(ctx, [x0, y0, x0 + dx, y0 - dy, x0 + w + dx, y0 - dy, x0 + w, y0], "#e6eaef");
  poly(
    ctx,
    [x0 + w, y0, x0 + w + dx, y0 - dy, x0 + w + dx, y0 + h - dy, x0 + w, y0 + h],
    "#c9d1d9",
  );
  const slices = Math.min(channels, 7) - 1;
  if (slices > 0 && dx > 3) {
    ctx.strokeStyle = "rgba(140,149,159,0.55)";
    ctx.beginPath();
    for (let k = 1; k <= slices; k++) {
      const f = k / (slices + 1);
      ctx.moveTo(x0 + f * dx, y0 - f * dy);
      ctx.lineTo(x0 + w + f * dx, y0 - f * dy);
      ctx.moveTo(x0 + w + f * dx, y0 - f * dy);
      ctx.lineTo(x0 + w + f * dx, y0 + h - f * dy);
    }
    ctx.stroke();
  }
  const front = { x: x0, y: y0, w, h };
  if (face) blit(ctx, face.strip, face.t, face.slot, front);
  else {
    ctx.fillStyle = "#f6f8fa";
    ctx.fillRect(x0, y0, w, h);
  }
  ctx.strokeStyle = EDGE;
  ctx.strokeRect(x0, y0, w, h);
  return front;
}

function poly(ctx: CanvasRenderingContext2D, xy: number[], fill: string): void {
  ctx.beginPath();
  ctx.moveTo(xy[0] as number, xy[1] as number);
  for (let i = 2; i < xy.length; i += 2) ctx.lineTo(xy[i] as number, xy[i + 1] as number);
  ctx.closePath();
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.stroke();
}

/** A vector (or shapeless) layer: a narrow bar, taller for more values, on the floor. */
export function drawBar(
  ctx: CanvasRenderingContext2D,
  box: ColumnBox,
  floor: number,
  n: number,
  room: number,
): Rect {
  const h = Math.min(room, Math.round(8 + 5 * Math.log2(Math.max(1, n))));
  const w = 12;
  const r = { x: Math.round(box.x + (box.w - w) / 2) + 0.5, y: Math.round(floor - h) + 0.5, w, h };
  ctx.fillStyle = "#eaeef2";
  ctx.strokeStyle = EDGE;
  ctx.lineWidth = 1;
  ctx.fillRect(r.x, r.y, r.w, r.h);
  ctx.strokeRect(r.x, r.y, r.w, r.h);
  return r;
}

const OP_SYMBOLS: Record<string, string> = {
  Add: "+",
  Subtract: "−",
  Multiply: "×",
  Divide: "÷",
  TrueDivide: "÷",
  Maximum: "max",
  Minimum: "min",
  Concatenate: "⧺",
};

/** A raw operation between layers (`a + b`): a small round node with its symbol. */
export function drawOp(
  ctx: CanvasRenderingContext2D,
  box: ColumnBox,
  cy: number,
  className: string,
): Rect {
  const cx = box.x + box.w / 2;
  const r = 10;
  ctx.beginPath();
  ctx.arc(cx, cy, r, 0, 2 * Math.PI);
  ctx.fillStyle = "#fff8c5";
  ctx.fill();
  ctx.strokeStyle = EDGE;
  ctx.lineWidth = 1;
  ctx.stroke();
  const sym = OP_SYMBOLS[className] ?? className.slice(0, 3).toLowerCase();
  ctx.fillStyle = "#1f2328";
  ctx.font = `${sym.length > 1 ? 8 : 13}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(sym, cx, cy + 0.5);
  return { x: cx - r, y: cy - r, w: 2 * r, h: 2 * r };
}

/** A bracket over the columns of an expanded block, its name on it. */
export function drawBracket(
  ctx: CanvasRenderingContext2D,
  x0: number,
  x1: number,
  y: number,
  label: string,
): void {
  ctx.strokeStyle = "#8c959f";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x0 + 0.5, y + 10);
  ctx.lineTo(x0 + 0.5, y + 5.5);
  ctx.lineTo(x1 - 0.5, y + 5.5);
  ctx.lineTo(x1 - 0.5, y + 10);
  ctx.stroke();
  ctx.font = "10px system-ui, sans-serif";
  const text = `▾ ${label}`;
  const tw = Math.min(ctx.measureText(text).width + 6, Math.max(0, x1 - x0 - 8));
  if (tw < 12) return;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(x0 + 4, y, tw, 11);
  ctx.fillStyle = "#57606a";
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  ctx.save();
  ctx.beginPath();
  ctx.rect(x0 + 4, y - 1, tw, 13);
  ctx.clip();
  ctx.fillText(text, x0 + 7, y + 0.5);
  ctx.restore();
}

/** A linked-cells outline: a translucent fill and a solid edge, at least 3 px across. */
export function markCells(ctx: CanvasRenderingContext2D, r: Rect, color: string): void {
  const w = Math.max(3, r.w);
  const h = Math.max(3, r.h);
  const x = r.x + (r.w - w) / 2;
  const y = r.y + (r.h - h) / 2;
  ctx.globalAlpha = 0.22;
  ctx.fillStyle = color;
  ctx.fillRect(x, y, w, h);
  ctx.globalAlpha = 1;
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.strokeRect(x + 0.75, y + 0.75, Math.max(0.5, w - 1.5), Math.max(0.5, h - 1.5));
}
