/**
 * Geometry of the overview, in CSS pixels: where each column sits, the volume glyph of a
 * layer (front face ∝ √size, depth ∝ log₂ channels), the thumbnails under it, and the inverse
 * (pixel → column, map and cell). Pure arithmetic.
 */
import type { LayerSpec } from "../types";
import type { Column } from "./tree";

export const OV = {
  /** Column widths: a layer with maps, a vector or shapeless box, a raw operation. */
  COL_W: 72,
  BOX_W: 44,
  OP_W: 30,
  /** Space between columns (the connections are drawn there). */
  GAP: 34,
  /** Left and right margin of the strip of columns. */
  PAD: 10,
  /** Height of one bracket row over expanded groups. */
  BRACKET_H: 15,
  /** Name and kind lines. */
  HEAD_H: 30,
  /** The glyph's box (volumes stand on its floor) and the shape label under it. */
  GLYPH_H: 66,
  /** The glyph's box in a model of 1-D layers only (its volumes are one cell tall). */
  GLYPH_1D: 34,
  LABEL_H: 16,
  /** Largest front-face edge of a volume and its depth cap. */
  FACE_MAX: 46,
  DEPTH_MAX: 30,
  /** Thumbnail box edge and the gap between thumbnails. */
  THUMB: 48,
  /** A 1-D layer's thumbnail slot (a strip of its time steps): wide and short. */
  STRIP: 10,
  STRIP_W: 64,
  STRIP_GAP: 3,
  THUMB_GAP: 5,
  /** Most strips a 1-D model's compact overview makes room for, per column. */
  MAX_STRIPS: 16,
} as const;

/** Whether a map of rows × cols is a 1-D layer's strip (one row of time steps). */
export function isStrip(rows: number, cols: number): boolean {
  return rows === 1 && cols > 1;
}

/** Height of one thumbnail slot and the pitch from one slot to the next. */
export function slotSize(strip: boolean): { h: number; pitch: number } {
  return strip
    ? { h: OV.STRIP, pitch: OV.STRIP + OV.STRIP_GAP }
    : { h: OV.THUMB, pitch: OV.THUMB + OV.THUMB_GAP };
}

export type ColumnKind = "map" | "box" | "op" | "group";

export interface ColumnBox {
  x: number;
  w: number;
  kind: ColumnKind;
}

/** What a column draws: maps (spatial, with a shape), a compact box, a small operation node. */
export function columnKind(col: Column, spec: LayerSpec | undefined): ColumnKind {
  if (col.group) return "group";
  if (spec?.is_op) return "op";
  return spec?.spatial && spec.height && spec.width ? "map" : "box";
}

/** Widest gap between columns when few columns spread over the available width. */
export const MAX_GAP = 110;

/**
 * x of every column, left to right, and the total width. Few columns spread out to fill
 * `avail` (gaps up to MAX_GAP), so a small network uses the width for its connections.
 */
export function layoutColumns(
  cols: readonly Column[],
  specs: readonly LayerSpec[],
  avail = 0,
): { boxes: ColumnBox[]; width: number } {
  const kinds = cols.map((c) => columnKind(c, specs[c.layer]));
  const widths = kinds.map((k) => (k === "op" ? OV.OP_W : k === "box" ? OV.BOX_W : OV.COL_W));
  const sum = widths.reduce((a, b) => a + b, 0);
  const free = avail - sum - 2 * OV.PAD;
  const gap =
    cols.length > 1
      ? Math.min(MAX_GAP, Math.max(OV.GAP, Math.floor(free / (cols.length - 1))))
      : OV.GAP;
  let x = OV.PAD;
  const boxes = kinds.map((kind, i) => {
    const w = widths[i] as number;
    const box = { x, w, kind };
    x += w + gap;
    return box;
  });
  return { boxes, width: x - gap + OV.PAD };
}

/** Columns [i0, i1) that overlap the pixels [left, right). */
export function visibleRange(
  boxes: readonly ColumnBox[],
  left: number,
  right: number,
): [number, number] {
  const first = lowerBound(boxes, (b) => b.x + b.w > left);
  const end = lowerBound(boxes, (b) => b.x >= right);
  return [first, Math.max(first, end)];
}

/** First index whose box satisfies `pred` (pred is monotone: false … false true … true). */
function lowerBound(boxes: readonly ColumnBox[], pred: (b: ColumnBox) => boolean): number {
  let lo = 0;
  let hi = boxes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pred(boxes[mid] as ColumnBox)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The column under x, or -1 (in a gap or outside). */
export function columnAt(boxes: readonly ColumnBox[], x: number): number {
  const i = lowerBound(boxes, (b) => b.x + b.w > x);
  const b = boxes[i];
  return b && x >= b.x ? i : -1;
}

/** Vertical bands of a column, given the depth of the deepest bracket row and glyph box. */
export function bands(
  brackets: number,
  glyphH: number = OV.GLYPH_H,
): {
  head: number;
  glyph: number;
  label: number;
  thumbs: number;
} {
  const head = brackets * OV.BRACKET_H;
  const glyph = head + OV.HEAD_H;
  const label = glyph + glyphH;
  return { head, glyph, label, thumbs: label + OV.LABEL_H + 4 };
}

/** Room under the thumbnails for the "+ n more" line. */
export const MORE_H = 16;

/** How many thumbnails (strips) fit between `top` and `height`, with room for "+ n more". */
export function thumbsThatFit(top: number, height: number, strip = false): number {
  const { h, pitch } = slotSize(strip);
  return Math.max(0, Math.floor((height - top - MORE_H + pitch - h) / pitch));
}

/**
 * Height of the overview: `full` unless every layer with maps is 1-D (`strips` is the most
 * maps a 1-D column has, `vectors` the most cells a vector column draws), then just enough
 * for at most OV.MAX_STRIPS strips — a Conv1D model's overview stays compact.
 */
export function overviewHeight(
  top: number,
  full: number,
  only1d: boolean,
  strips: number,
  vectors: number,
): number {
  if (!only1d) return full;
  const { h, pitch } = slotSize(true);
  const n = Math.min(OV.MAX_STRIPS, Math.max(1, strips));
  const need = Math.max(n * pitch - (pitch - h), vectors * 8);
  return Math.min(full, Math.ceil(top + need + MORE_H + 4));
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Thumbnail `slot` of a map of rows × cols, aspect kept, centred in its square box; a 1-D map
 * (one row) fills a strip slot: OV.STRIP_W wide (at most the box's width), OV.STRIP tall,
 * slots OV.STRIP_GAP apart.
 */
export function thumbRect(
  box: ColumnBox,
  top: number,
  slot: number,
  rows: number,
  cols: number,
): Rect {
  if (isStrip(rows, cols)) {
    const { h, pitch } = slotSize(true);
    const w = Math.min(box.w, OV.STRIP_W);
    return { x: box.x + (box.w - w) / 2, y: top + slot * pitch, w, h };
  }
  const s = OV.THUMB;
  const k = s / Math.max(rows, cols, 1);
  const w = Math.max(1, cols * k);
  const h = Math.max(1, rows * k);
  const y0 = top + slot * (s + OV.THUMB_GAP);
  return { x: box.x + (box.w - w) / 2, y: y0 + (s - h) / 2, w, h };
}

/** The thumbnail slot under y (or -1), given how many are shown; `strip`: 1-D slots. */
export function slotAt(top: number, y: number, shown: number, strip = false): number {
  const p = y - top;
  if (p < 0) return -1;
  const { h, pitch } = slotSize(strip);
  const slot = Math.floor(p / pitch);
  return slot < shown && p - slot * pitch < h ? slot : -1;
}

/** Cell (row, col) of a map of rows × cols under a point of its thumbnail rectangle. */
export function cellIn(r: Rect, rows: number, cols: number, x: number, y: number) {
  if (x < r.x || y < r.y || x >= r.x + r.w || y >= r.y + r.h) return null;
  return {
    row: Math.min(rows - 1, Math.floor(((y - r.y) / r.h) * rows)),
    col: Math.min(cols - 1, Math.floor(((x - r.x) / r.w) * cols)),
  };
}

/** Sub-rectangle of a thumbnail covering cells [r0, r1) × [c0, c1). */
export function cellsRect(
  r: Rect,
  rows: number,
  cols: number,
  b: { r0: number; r1: number; c0: number; c1: number },
): Rect {
  return {
    x: r.x + (b.c0 / cols) * r.w,
    y: r.y + (b.r0 / rows) * r.h,
    w: ((b.c1 - b.c0) / cols) * r.w,
    h: ((b.r1 - b.r0) / rows) * r.h,
  };
}

/**
 * A layer's volume: front face `w` × `h` (√ of the map's size against the largest map of the
 * model, so halving reads as a clear step), depth `d` (log₂ of the channels: 1 → 3 px,
 * 8 → 13, 64 → 22, 512 → 31), drawn receding up and to the right by (dx, dy).
 */
export function volume(
  rows: number,
  cols: number,
  channels: number,
  largest: number,
): { w: number; h: number; d: number; dx: number; dy: number } {
  const edge = (n: number) =>
    Math.max(5, Math.round(OV.FACE_MAX * Math.sqrt(Math.max(1, n) / Math.max(1, largest))));
  const d = Math.min(OV.DEPTH_MAX, 3 + 3.2 * Math.log2(Math.max(1, channels)));
  return { w: edge(cols), h: edge(rows), d, dx: Math.round(d * 0.6), dy: Math.round(d * 0.5) };
}
