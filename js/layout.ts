/**
 * Grid layout of many small feature maps in one canvas, and the inverse:
 * canvas pixel → (slot, row, col). Pure arithmetic.
 */

import type { LayerGeometry } from "./types";

export interface GridLayout {
  /** Number of maps. */
  n: number;
  /** Map size in cells. */
  mapH: number;
  mapW: number;
  /** Integer pixels per cell. */
  scale: number;
  /** Pixels between tiles (and around the border). */
  gap: number;
  cols: number;
  rows: number;
  tileW: number;
  tileH: number;
  /** Canvas size in pixels. */
  width: number;
  height: number;
}

export interface LayoutOptions {
  /** Usable width in CSS pixels. */
  availWidth: number;
  /**
   * Smallest wanted tile edge in pixels: the base scale is the largest integer whose tile edge
   * does not exceed it (at least 1). Defaults to {@link defaultTargetTile}.
   */
  targetTile?: number;
  gap?: number;
  maxScale?: number;
  /**
   * Height of the visible pane. When given, the scale may grow from the base scale up to
   * `maxScale`: of the scales at which all maps fit the available width and this height, the
   * one whose maps cover the largest part of (available width × grid height) wins (ties: the
   * larger), so few or big maps fill the pane instead of leaving it grey. A base layout taller
   * than this shrinks to the largest scale that fits (tiles of at least MIN_FIT_TILE px);
   * when none does (many maps), the base is kept and the pane scrolls.
   */
  maxHeight?: number;
  /** Forces the scale (e.g. to re-lay the same tiles into more columns). */
  scale?: number;
}

/** Smallest tile edge (px) a grid shrinks to so that its maps fit the pane unscrolled. */
export const MIN_FIT_TILE = 32;

/** Largest integer upscaling the grid uses. */
export const MAX_SCALE = 24;

/** Chooses a target tile edge that shrinks as the number of maps grows. */
export function defaultTargetTile(n: number): number {
  if (n <= 4) return 160;
  if (n <= 16) return 112;
  if (n <= 64) return 64;
  if (n <= 256) return 40;
  if (n <= 1024) return 24;
  return 12;
}

export function gridLayout(n: number, mapH: number, mapW: number, opts: LayoutOptions): GridLayout {
  const h = Math.max(1, mapH | 0);
  const w = Math.max(1, mapW | 0);
  const count = Math.max(0, n | 0);
  const gap = opts.gap ?? (Math.max(h, w) <= 2 ? 1 : 2);
  const maxScale = Math.max(1, opts.maxScale ?? MAX_SCALE);
  const at = (scale: number) => layoutAt(count, h, w, gap, scale, opts.availWidth);
  if (opts.scale !== undefined) return at(Math.max(1, Math.floor(opts.scale)));
  const target = opts.targetTile ?? defaultTargetTile(count);
  const base = Math.max(1, Math.min(maxScale, Math.floor(target / Math.max(h, w))));
  let best = at(base);
  const maxHeight = opts.maxHeight;
  if (maxHeight === undefined) return best;
  if (best.height > maxHeight) {
    // Too tall at the base scale: the largest smaller scale that fits the pane without
    // scrolling, while tiles stay at least MIN_FIT_TILE px; else keep the base (it scrolls).
    for (let s = base - 1; s >= 1 && Math.max(h, w) * s >= MIN_FIT_TILE; s--) {
      const g = at(s);
      if (g.height <= maxHeight) return g;
    }
    return best;
  }
  // Among the scales whose grid fits the pane, keep the one whose maps cover most of the
  // rectangle they occupy (available width × grid height): wide, full rows of large maps.
  // Height never shrinks as the scale grows (rows only increase), and the width only leaves
  // the available width once a single column is too wide: stop at the first misfit.
  const avail = Math.max(opts.availWidth, best.width);
  let bestCover = coverage(best, avail);
  for (let s = base + 1; s <= maxScale; s++) {
    const g = at(s);
    if (g.height > maxHeight || g.width > avail) break;
    const cover = coverage(g, avail);
    if (cover >= bestCover) {
      best = g;
      bestCover = cover;
    }
  }
  return best;
}

/** Fraction of (available width × grid height) that the maps cover. */
export function coverage(g: GridLayout, availWidth: number): number {
  const area = Math.max(availWidth, g.width) * g.height;
  return area > 0 ? (g.n * g.tileW * g.tileH) / area : 0;
}

function layoutAt(
  count: number,
  h: number,
  w: number,
  gap: number,
  scale: number,
  availWidth: number,
): GridLayout {
  const tileW = w * scale;
  const tileH = h * scale;
  const avail = Math.max(tileW + 2 * gap, Math.floor(availWidth));
  const cols = Math.max(1, Math.min(count, Math.floor((avail - gap) / (tileW + gap))));
  const rows = count === 0 ? 0 : Math.ceil(count / cols);
  return {
    n: count,
    mapH: h,
    mapW: w,
    scale,
    gap,
    cols,
    rows,
    tileW,
    tileH,
    width: gap + cols * (tileW + gap),
    height: gap + rows * (tileH + gap),
  };
}

/**
 * How many maps a pane `paneHeight` pixels tall shows before scrolling (a started row
 * counts): the channels the kernel sends first.
 */
export function firstScreenful(g: GridLayout, paneHeight: number): number {
  const rows = Math.max(1, Math.ceil((paneHeight - g.gap) / (g.tileH + g.gap)));
  return Math.min(g.n, g.cols * rows);
}

/** Top-left pixel of a slot. */
export function slotOrigin(g: GridLayout, slot: number): { x: number; y: number } {
  const c = slot % g.cols;
  const r = Math.floor(slot / g.cols);
  return { x: g.gap + c * (g.tileW + g.gap), y: g.gap + r * (g.tileH + g.gap) };
}

/** Height in pixels of one time series' strip (a 1-D map). */
export const STRIP_HEIGHT = 14;
/** Most pixels per input time step in the strips. */
const MAX_STEP_PX = 24;

/**
 * The layout of `n` 1-D maps of `length` cells, one strip per map stacked in one column: every
 * strip spans the same width (the pane's, at most MAX_STEP_PX per input time step, at least
 * one pixel per step and per cell), so a strided or pooled layer's cell
 * covers its stride of the input's time axis. Cells may be of unequal integer widths: see
 * {@link cellStart} and {@link cellOf}.
 */
export function stripLayout(
  n: number,
  length: number,
  inputLength: number,
  availWidth: number,
): GridLayout {
  const count = Math.max(0, n | 0);
  const w = Math.max(1, length | 0);
  const tIn = Math.max(1, inputLength | 0);
  const gap = 2;
  const tileW = Math.max(w, tIn, Math.min(tIn * MAX_STEP_PX, Math.floor(availWidth - 2 * gap)));
  const tileH = STRIP_HEIGHT;
  return {
    n: count,
    mapH: 1,
    mapW: w,
    scale: Math.max(1, Math.floor(tileW / w)),
    gap,
    cols: 1,
    rows: count,
    tileW,
    tileH,
    width: tileW + 2 * gap,
    height: gap + count * (tileH + gap),
  };
}

/** First pixel of cell `c` along an axis of `cells` cells drawn `px` pixels long. */
export function cellStart(c: number, cells: number, px: number): number {
  return Math.floor((c * px + cells - 1) / cells);
}

/** The cell under pixel `p` along an axis of `cells` cells drawn `px` pixels long. */
export function cellOf(p: number, cells: number, px: number): number {
  return Math.floor((p * cells) / px);
}

export interface Hit {
  slot: number;
  row: number;
  col: number;
}

/** Canvas pixel → slot and cell, or null in a gap or past the last map. */
export function hitTest(g: GridLayout, x: number, y: number): Hit | null {
  if (x < 0 || y < 0) return null;
  const px = Math.floor(x) - g.gap;
  const py = Math.floor(y) - g.gap;
  if (px < 0 || py < 0) return null;
  const c = Math.floor(px / (g.tileW + g.gap));
  const r = Math.floor(py / (g.tileH + g.gap));
  if (c >= g.cols || r >= g.rows) return null;
  const ox = px - c * (g.tileW + g.gap);
  const oy = py - r * (g.tileH + g.gap);
  if (ox >= g.tileW || oy >= g.tileH) return null;
  const slot = r * g.cols + c;
  if (slot >= g.n) return null;
  return { slot, row: cellOf(oy, g.mapH, g.tileH), col: cellOf(ox, g.mapW, g.tileW) };
}

/** Cells of one map drawn at an integer scale (detail view): pixel → cell. */
export function cellAt(
  x: number,
  y: number,
  scale: number,
  h: number,
  w: number,
): { row: number; col: number } | null {
  const row = Math.floor(y / scale);
  const col = Math.floor(x / scale);
  if (x < 0 || y < 0 || row >= h || col >= w) return null;
  return { row, col };
}

/** Moves a cell by (dr, dc), clamped to the map. */
export function moveCell(
  row: number,
  col: number,
  dr: number,
  dc: number,
  h: number,
  w: number,
): { row: number; col: number } {
  return {
    row: Math.min(h - 1, Math.max(0, row + dr)),
    col: Math.min(w - 1, Math.max(0, col + dc)),
  };
}

/**
 * Receptive field of output cell (r, c) in the input image, half-open, from the per-axis
 * interval tables the kernel sends (exact bounding boxes, already clipped). Null when the
 * cell reads no input pixel (a zero-padding cell) or the index is outside the tables.
 */
export function receptiveField(
  geo: LayerGeometry,
  row: number,
  col: number,
): { row0: number; row1: number; col0: number; col1: number } | null {
  const r = geo.rows[row];
  const c = geo.cols[col];
  if (!r || !c || r[0] >= r[1] || c[0] >= c[1]) return null;
  return { row0: r[0], row1: r[1], col0: c[0], col1: c[1] };
}
