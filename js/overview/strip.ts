/**
 * The overview's laid-out strip: which layers are columns (`cols`), where each one sits
 * (`boxes`), the brackets of the open blocks (`spans`), and the geometry of a column's
 * cells — the rectangle of a map's cells or of a field, and the cell under a point. Shared
 * by the view's pointer handling, the header buttons and the painters. Content coordinates.
 */
import type { LayerSpec } from "../types";
import {
  bands,
  type ColumnBox,
  cellIn,
  cellsRect,
  columnAt,
  isStrip,
  layoutColumns,
  OV,
  overviewHeight,
  type Rect,
  slotAt,
  thumbRect,
  thumbsThatFit,
} from "./layout";
import { type Field, hasChannel } from "./links";
import type { Thumb, ThumbCache } from "./thumbs";
import { type Column, columns, type Span, type TreeNode } from "./tree";

/** Height of the strip of columns (CSS px). */
export const OVERVIEW_HEIGHT = 500;
/** Values of a vector layer drawn as cells (a classifier's scores; a Flatten's first ones). */
export const VECTOR_CELLS = 32;

export interface OverviewCell {
  /** Layer index and name. */
  index: number;
  layer: string;
  filter: number;
  row: number;
  col: number;
}

/** A block of cells, rows `[r0, r1)` × columns `[c0, c1)`. */
export interface CellBox {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

export interface StripHit {
  /** Column index, the cell, and the cell's rectangle. */
  i: number;
  cell: OverviewCell;
  rect: Rect;
}

export class Strip {
  specs: LayerSpec[] = [];
  cols: Column[] = [];
  spans: Span[] = [];
  boxes: ColumnBox[] = [];
  /** Nesting depth of the open blocks (rows of brackets above the columns). */
  depth = 0;
  /** Layer index → its column (a layer shown alone, or the last layer of a collapsed block). */
  colOf = new Map<number, number>();
  /** Layer index → the column that shows it or the collapsed block holding it. */
  holder = new Map<number, number>();
  /** Height of the strip of columns: OVERVIEW_HEIGHT, less for a model of 1-D layers only. */
  height = OVERVIEW_HEIGHT;
  /** Height of the glyphs' band: OV.GLYPH_H, OV.GLYPH_1D for a model of 1-D layers only. */
  glyphH: number = OV.GLYPH_H;

  constructor(readonly thumbs: ThumbCache) {}

  /** Lays out `tree` with the `expanded` blocks open over `width` px; the content's width. */
  layout(tree: TreeNode[], expanded: Set<string>, width: number): number {
    const { columns: cols, spans } = columns(tree, expanded);
    this.cols = cols;
    this.spans = spans;
    this.depth = spans.reduce((m, s) => Math.max(m, s.depth + 1), 0);
    const laid = layoutColumns(cols, this.specs, width);
    this.boxes = laid.boxes;
    this.colOf = new Map(cols.map((c, i) => [c.layer, i]));
    this.holder = new Map();
    cols.forEach((c, i) => {
      for (let k = c.group ? c.group.first : c.layer; k <= c.layer; k++) this.holder.set(k, i);
    });
    this.glyphH = OV.GLYPH_H;
    this.height = this.fitHeight();
    return laid.width;
  }

  /** OVERVIEW_HEIGHT, or when every layer with maps is 1-D, the height its strips need. */
  private fitHeight(): number {
    let maps = 0;
    let only1d = true;
    let strips = 0;
    let vectors = 0;
    for (const s of this.specs) {
      if (s.is_op) continue;
      if (s.spatial && s.height && s.width) {
        maps++;
        if (!this.isStrip(s)) only1d = false;
        strips = Math.max(strips, s.channels ?? 1);
      } else {
        const n = Number(s.shape?.[s.shape.length - 1]) || 0;
        vectors = Math.max(vectors, Math.min(VECTOR_CELLS, n));
      }
    }
    const compact = maps > 0 && only1d;
    if (compact) this.glyphH = OV.GLYPH_1D;
    return overviewHeight(this.top, OVERVIEW_HEIGHT, compact, strips, vectors);
  }

  /** Whether a layer's maps are 1-D strips (one row of time steps). */
  isStrip(spec: LayerSpec): boolean {
    const [rows, cols] = this.rowsCols(spec);
    return isStrip(rows, cols);
  }

  /** The vertical bands of the columns (brackets, heads, glyphs, labels, thumbnails). */
  bands(): ReturnType<typeof bands> {
    return bands(this.depth, this.glyphH);
  }

  /** The y where the thumbnails start. */
  get top(): number {
    return this.bands().thumbs;
  }

  /** Column i's layer spec, box and thumbnails (when they are in). */
  at(i: number): { col: Column; box: ColumnBox; spec?: LayerSpec; t?: Thumb } {
    const col = this.cols[i] as Column;
    const spec = this.specs[col.layer];
    return { col, box: this.boxes[i] as ColumnBox, spec, t: spec && this.thumbs.get(spec.name) };
  }

  rowsCols(spec: LayerSpec): [number, number] {
    const size = spec.links?.size;
    if (size) return [size[0], size[1]];
    return [spec.height ?? 1, spec.width ?? 1];
  }

  /** How many maps of a column are shown (as many as fit, at most the thumbnails'). */
  shown(t: Thumb, spec: LayerSpec): number {
    return Math.min(thumbsThatFit(this.top, this.height, this.isStrip(spec)), t.channels);
  }

  /** A vector's first values as a column of cells (at most VECTOR_CELLS). */
  vectorCells(t: Thumb): { n: number; size: number } {
    const room = this.height - this.top - 18;
    const n = Math.min(t.channels, VECTOR_CELLS);
    const size = Math.max(6, Math.min(14, Math.floor(room / Math.max(1, n))));
    return { n: Math.min(n, Math.floor(room / size)), size };
  }

  vectorRect(box: ColumnBox, size: number, k: number): Rect {
    return { x: box.x + (box.w - 16) / 2, y: this.top + k * size, w: 16, h: size - 1 };
  }

  /** Rectangle of map `slot` of column i. */
  mapRect(i: number, spec: LayerSpec, slot: number): Rect {
    const [rows, cols] = this.rowsCols(spec);
    return thumbRect(this.boxes[i] as ColumnBox, this.top, slot, rows, cols);
  }

  /** Rectangle of cells `b` in map `filter` of column i (null when not shown). */
  cellRect(i: number, filter: number, b: CellBox): Rect | null {
    const { box, spec, t } = this.at(i);
    if (!spec || !t) return null;
    if (t.vector) {
      const { n, size } = this.vectorCells(t);
      return filter < n ? this.vectorRect(box, size, filter) : null;
    }
    const [rows, cols] = this.rowsCols(spec);
    return cellsRect(this.mapRect(i, spec, filter), rows, cols, b);
  }

  /** The rectangles of a field in column i: one per shown map it covers (or the whole map). */
  fieldRects(i: number, f: Field): Rect[] {
    const { box, spec, t } = this.at(i);
    if (!spec || box.kind === "op" || box.kind === "box" || !t || t.vector) return [];
    const [rows, cols] = this.rowsCols(spec);
    const out: Rect[] = [];
    for (let s = 0; s < this.shown(t, spec); s++) {
      if (!hasChannel(f.ch, s)) continue;
      const r = this.mapRect(i, spec, s);
      out.push(f.box ? cellsRect(r, rows, cols, f.box) : r);
    }
    return out;
  }

  /** Column, map and cell at content point (x, y), or null. */
  hit(x: number, y: number): StripHit | null {
    const i = columnAt(this.boxes, x);
    if (i < 0) return null;
    const { col, box, spec, t } = this.at(i);
    if (!spec || !t) return null;
    if (box.kind === "box" && t.vector) {
      const { n, size } = this.vectorCells(t);
      const k = Math.floor((y - this.top) / size);
      if (k < 0 || k >= n) return null;
      const cell = { index: col.layer, layer: spec.name, filter: k, row: 0, col: 0 };
      return { i, cell, rect: this.vectorRect(box, size, k) };
    }
    if (box.kind !== "map" && box.kind !== "group") return null;
    const slot = slotAt(this.top, y, this.shown(t, spec), this.isStrip(spec));
    if (slot < 0) return null;
    const [rows, cols] = this.rowsCols(spec);
    const r = this.mapRect(i, spec, slot);
    const c = cellIn(r, rows, cols, x, y);
    if (!c) return null;
    const one = { r0: c.row, r1: c.row + 1, c0: c.col, c1: c.col + 1 };
    return {
      i,
      cell: { index: col.layer, layer: spec.name, filter: slot, ...c },
      rect: cellsRect(r, rows, cols, one),
    };
  }

  /** The open block whose bracket is at content point (x, y), if any. */
  bracketAt(x: number, y: number): Span | undefined {
    const row = Math.floor(y / OV.BRACKET_H);
    return this.spans.find((s) => {
      if (s.depth !== row) return false;
      const a = this.boxes[s.from] as ColumnBox;
      const z = this.boxes[s.to] as ColumnBox;
      return x >= a.x - 6 && x <= z.x + z.w + 6;
    });
  }

  /** Name of the innermost open block holding column i ("" when none). */
  parentLabel(i: number): string {
    let best: Span | null = null;
    for (const s of this.spans) {
      if (s.from <= i && i <= s.to && (!best || s.depth > best.depth)) best = s;
    }
    return best?.group.label ?? "";
  }
}
