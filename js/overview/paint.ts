/**
 * Painting the overview's two canvases in content coordinates: the base (block brackets,
 * each column's glyph, volume and thumbnails through the colour story, a vector's cells)
 * and the overlay of a hovered cell's linked cells (its field in every column in view, the
 * lines to the adjacent columns' fields).
 */
import type { LayerSpec, RangeMode } from "../types";
import {
  blit,
  drawBar,
  drawBracket,
  drawOp,
  drawVolume,
  markCells,
  READ_BY_COLOR,
  READS_COLOR,
  rgbPicture,
  type Style,
  thumbStrip,
  thumbStyle,
} from "./draw";
import {
  type bands,
  type ColumnBox,
  OV,
  type Rect,
  slotSize,
  thumbsThatFit,
  volume,
} from "./layout";
import type { Fields, LinkNode } from "./links";
import { type OverviewCell, type Strip, VECTOR_CELLS } from "./strip";
import type { Thumb } from "./thumbs";

interface Painted {
  strip: HTMLCanvasElement;
  picture: HTMLCanvasElement | null;
}

/** Paints the columns; keeps each layer's coloured thumbnails until `reset`. */
export class ColumnPainter {
  private painted = new Map<string, Painted>();
  /** Colour range mode, the global magnitude and the largest map side (the volumes' scale). */
  mode: RangeMode = "layer";
  globalM = 0;
  largest = 1;

  reset(): void {
    this.painted.clear();
  }

  /** Brackets of the open blocks and columns `[i0, i1)`. */
  paintBase(ctx: CanvasRenderingContext2D, strip: Strip, i0: number, i1: number): void {
    const b = strip.bands();
    for (const s of strip.spans) {
      if (s.to < i0 || s.from >= i1) continue;
      const x0 = (strip.boxes[s.from] as ColumnBox).x - 6;
      const last = strip.boxes[s.to] as ColumnBox;
      drawBracket(ctx, x0, last.x + last.w + 6, s.depth * OV.BRACKET_H, s.group.label);
    }
    for (let i = i0; i < i1; i++) this.paintColumn(ctx, strip, i, b);
  }

  private paintedOf(spec: LayerSpec, t: Thumb): Painted {
    let p = this.painted.get(spec.name);
    if (!p) {
      const image = spec.index === 0;
      const style = (c: number): Style => thumbStyle(spec, t, c, this.mode, this.globalM);
      p = { strip: thumbStrip(t, style, image), picture: image ? rgbPicture(t) : null };
      this.painted.set(spec.name, p);
    }
    return p;
  }

  private paintColumn(
    ctx: CanvasRenderingContext2D,
    strip: Strip,
    i: number,
    b: ReturnType<typeof bands>,
  ): void {
    const { col, box, spec, t } = strip.at(i);
    if (!spec) return;
    const floor = b.label - 3;
    if (box.kind === "op") {
      drawOp(ctx, box, floor - 18, spec.class_name);
      return;
    }
    const p = t ? this.paintedOf(spec, t) : null;
    if (box.kind === "box") {
      drawBar(ctx, box, floor, t?.total ?? spec.channels ?? 1, b.label - b.glyph - 8);
      if (t?.vector && p) paintVector(ctx, strip, box, t, p.strip);
      return;
    }
    const [rows, cols] = strip.rowsCols(spec);
    const v = volume(rows, cols, spec.channels ?? 1, this.largest);
    let face: { strip: HTMLCanvasElement; t: Thumb; slot: number } | null = null;
    if (t && p) {
      face = p.picture
        ? { strip: p.picture, t: { ...t, channels: 1 }, slot: 0 }
        : { strip: p.strip, t, slot: 0 };
    }
    drawVolume(ctx, box, floor, v, spec.channels ?? 1, face, Boolean(col.group));
    const oneD = strip.isStrip(spec);
    const fit = thumbsThatFit(b.thumbs, strip.height, oneD);
    const total = spec.channels ?? 0;
    const shown = Math.min(fit, t ? t.channels : total);
    for (let s = 0; s < shown; s++) {
      const r = strip.mapRect(i, spec, s);
      if (t && p) blit(ctx, p.strip, t, s, r);
      else {
        ctx.fillStyle = "#eaeef2";
        ctx.fillRect(r.x, r.y, r.w, r.h);
      }
    }
    if (total > shown) {
      const y = b.thumbs + shown * slotSize(oneD).pitch + 9;
      ctx.fillStyle = "#656d76";
      ctx.font = "10px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(`+ ${total - shown} more`, box.x + box.w / 2, y);
    }
  }
}

/** A vector's first values as a column of cells (at most VECTOR_CELLS). */
function paintVector(
  ctx: CanvasRenderingContext2D,
  strip: Strip,
  box: ColumnBox,
  t: Thumb,
  picture: HTMLCanvasElement,
): void {
  const { n, size } = strip.vectorCells(t);
  ctx.imageSmoothingEnabled = false;
  ctx.font = "9px ui-monospace, monospace";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let k = 0; k < n; k++) {
    const r = strip.vectorRect(box, size, k);
    ctx.drawImage(picture, k, 0, 1, 1, r.x, r.y, r.w, r.h);
    ctx.strokeStyle = "#d0d7de";
    ctx.lineWidth = 1;
    ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
    if (size >= 10 && t.total <= VECTOR_CELLS) {
      ctx.fillStyle = "#656d76";
      ctx.fillText(String(k), r.x - 2, r.y + r.h / 2);
    }
  }
  if (t.total > n) {
    ctx.fillStyle = "#656d76";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(`+ ${t.total - n}`, box.x + box.w / 2, strip.top + n * size + 10);
  }
}

/** The hovered cell: its column (-1 when not shown) and its fields in every layer. */
export interface LinkedHover extends OverviewCell {
  fields: Fields;
}

/** The hovered cell's linked cells in columns `[i0, i1)`, with lines to adjacent columns. */
export function paintLinks(
  ctx: CanvasRenderingContext2D,
  strip: Strip,
  graph: LinkNode[],
  hv: LinkedHover,
  column: number,
  i0: number,
  i1: number,
): void {
  const b = strip.bands();
  const one = { r0: hv.row, r1: hv.row + 1, c0: hv.col, c1: hv.col + 1 };
  const own = column >= 0 ? strip.cellRect(column, hv.filter, one) : null;
  // the columns of the layers it reads directly and of those reading it directly
  const neighbours = new Set<number>();
  const near = (layer: number) => {
    const col = strip.holder.get(layer);
    if (col !== undefined && col !== column) neighbours.add(col);
  };
  for (const link of graph[hv.index]?.inputs ?? []) near(link.from);
  graph.forEach((n, j) => {
    if (n.inputs?.some((l) => l.from === hv.index)) near(j);
  });
  for (let i = i0; i < i1; i++) {
    if (i === column) continue;
    const layer = strip.at(i).col.layer;
    const reads = hv.fields.reads.get(layer);
    const field = reads ?? hv.fields.readBy.get(layer);
    if (!field) continue;
    const color = reads ? READS_COLOR : READ_BY_COLOR;
    const box = strip.boxes[i] as ColumnBox;
    ctx.fillStyle = color; // a bar under the label: its maps may be out of the shown ones
    ctx.fillRect(box.x, b.thumbs - 4, box.w, 3);
    const rects = strip.fieldRects(i, field);
    for (const r of rects) markCells(ctx, r, color);
    if (own && neighbours.has(i)) connect(ctx, own, rects, color, Boolean(reads));
  }
  if (own) {
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#000";
    ctx.strokeRect(own.x - 1.5, own.y - 1.5, own.w + 3, own.h + 3);
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(own.x - 0.5, own.y - 0.5, own.w + 1, own.h + 1);
  }
}

/** Lines between the hovered cell and its field in an adjacent column. */
function connect(
  ctx: CanvasRenderingContext2D,
  own: Rect,
  rects: Rect[],
  color: string,
  before: boolean,
): void {
  ctx.strokeStyle = color;
  ctx.globalAlpha = 0.45;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const r of rects) {
    const x1 = before ? r.x + r.w : r.x;
    const x0 = before ? own.x : own.x + own.w;
    ctx.moveTo(x1, r.y);
    ctx.lineTo(x0, own.y);
    ctx.moveTo(x1, r.y + r.h);
    ctx.lineTo(x0, own.y + own.h);
  }
  ctx.stroke();
  ctx.globalAlpha = 1;
}
