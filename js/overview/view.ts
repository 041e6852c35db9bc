/**
 * The overview: the whole network left to right, one column per layer (or per collapsed
 * block): a volume glyph whose face, depth and label (`24×24×8`) read at a glance, and the
 * layer's first maps as thumbnails. Hovering a cell lights up, in every column in view, the
 * cells it reads (orange) and the cells that read it (blue), with lines to the adjacent
 * columns; clicking a column or a cell opens that layer's grid.
 *
 * Virtualised: only the columns in view get DOM (their header buttons) and are painted, on
 * one viewport-sized canvas that stays in place while the strip scrolls; thumbnails are asked
 * for the columns in view only.
 */
import { canvasPoint, ctx2d, Disposer, h } from "../dom";
import { pathParts, shapeLabel } from "../format";
import type { LayerSpec, RangeMode } from "../types";
import {
  blit,
  drawBar,
  drawBracket,
  drawOp,
  drawVolume,
  globalMagnitude,
  markCells,
  READ_BY_COLOR,
  READS_COLOR,
  rgbPicture,
  type Style,
  thumbStrip,
  thumbStyle,
} from "./draw";
import {
  bands,
  type ColumnBox,
  cellIn,
  cellsRect,
  columnAt,
  layoutColumns,
  OV,
  type Rect,
  slotAt,
  thumbRect,
  thumbsThatFit,
  visibleRange,
  volume,
} from "./layout";
import { type Field, type Fields, fieldsOf, hasChannel, type LinkNode, linkGraph } from "./links";
import type { Thumb, ThumbCache } from "./thumbs";
import { buildTree, type Column, columns, initialExpanded, type Span, type TreeNode } from "./tree";

/** The kind line of a column: fmwidget's kind, or the Keras class for "other" layers. */
function kindWord(spec: LayerSpec): string {
  return spec.kind === "other" ? String(spec.class_name) : String(spec.kind).replace("_", " ");
}

/** `name` without the prefix of the block it sits in ("conv2_block1_0_bn" in conv2_block1: "0_bn"). */
export function shortName(name: string, parent: string): string {
  const parentLeaf = pathParts(parent).leaf;
  for (const p of [parent, parentLeaf]) {
    if (
      p &&
      name.length > p.length + 1 &&
      name.startsWith(p) &&
      "_/".includes(name[p.length] as string)
    ) {
      return name.slice(p.length + 1);
    }
  }
  return name;
}

/** Values of a vector layer drawn as cells (a classifier's scores; a Flatten's first ones). */
const VECTOR_CELLS = 32;
/** Height of the strip of columns (CSS px). */
export const OVERVIEW_HEIGHT = 500;

export interface OverviewCell {
  /** Layer index and name. */
  index: number;
  layer: string;
  filter: number;
  row: number;
  col: number;
}

export interface OverviewHover extends OverviewCell {
  /** The thumbnail's value there: exact when `factor` is 1, else the mean of factor² cells. */
  value: number | null;
  factor: number;
  fields: Fields;
}

export interface OverviewHandlers {
  /** Open a layer's grid (a cell: select its map, trace it). */
  open(layer: string, cell: OverviewCell | null): void;
  hover(h: OverviewHover | null): void;
  /** Every column in view is painted with its thumbnails. */
  ready?(): void;
}

interface Painted {
  strip: HTMLCanvasElement;
  picture: HTMLCanvasElement | null;
}

export class OverviewView {
  readonly el = h("div", "fmw-overview fmw-pane");
  private readonly scroller = h("div", "fmw-ov-scroll");
  private readonly content = h("div", "fmw-ov-content");
  private readonly stage = h("div", "fmw-ov-stage");
  private readonly base = h("canvas", "fmw-ov-base");
  private readonly overlay = h("canvas", "fmw-ov-links");
  private specs: LayerSpec[] = [];
  private tree: TreeNode[] = [];
  private expanded = new Set<string>();
  private cols: Column[] = [];
  private spans: Span[] = [];
  private boxes: ColumnBox[] = [];
  private graph: LinkNode[] = [];
  /** Layer index → its column (a layer shown alone, or the last layer of a collapsed block). */
  private colOf = new Map<number, number>();
  /** Layer index → the column that shows it or the collapsed block holding it. */
  private holder = new Map<number, number>();
  private largest = 1;
  private globalM = 0;
  private mode: RangeMode = "layer";
  private painted = new Map<string, Painted>();
  private heads = new Map<number, HTMLButtonElement>();
  private hovered: OverviewHover | null = null;
  private hoveredCol = -1;
  private frame = 0;
  private depth = 0;
  /** The width the columns were spread over (a resize spreads them again). */
  private laidWidth = 0;
  private view = { left: 0, width: 0, i0: 0, i1: 0 };
  private readonly d = new Disposer();

  constructor(
    private readonly thumbs: ThumbCache,
    private readonly on: OverviewHandlers,
  ) {
    this.stage.append(this.base, this.overlay);
    this.content.append(this.stage);
    this.scroller.append(this.content);
    this.el.append(this.scroller);
    this.content.style.height = `${OVERVIEW_HEIGHT}px`;
    this.el.setAttribute("aria-label", "the network: one column per layer");
    this.d.listen(this.scroller, "scroll", () => this.schedule());
    this.d.listen(this.stage, "pointermove", (ev) => this.onMove(ev));
    this.d.listen(this.stage, "pointerleave", () => this.setHover(null, -1));
    this.d.listen(this.stage, "click", (ev) => this.onClick(ev));
    this.d.listen(this.content, "keydown", (ev) => this.onKey(ev));
    this.d.add(thumbs.onChange(() => this.schedule()));
    if (typeof ResizeObserver !== "undefined") {
      const ro = new ResizeObserver(() => this.schedule());
      ro.observe(this.scroller);
      this.d.add(() => ro.disconnect());
    }
    (this.el as unknown as { fmwOverview: OverviewView }).fmwOverview = this; // test hook
  }

  /** A new model (the `layers` trait): blocks, columns and links from scratch. */
  setLayers(specs: LayerSpec[]): void {
    this.specs = specs;
    this.tree = buildTree(specs);
    this.expanded = initialExpanded(this.tree);
    this.graph = linkGraph(specs);
    this.largest = Math.max(
      1,
      ...specs.map((s) => (s.spatial ? Math.max(s.height ?? 1, s.width ?? 1) : 1)),
    );
    this.globalM = globalMagnitude(specs);
    this.painted.clear();
    this.relayout();
  }

  /** The colour-range mode changed: repaint the thumbnails. */
  setMode(mode: RangeMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.painted.clear();
    this.schedule();
  }

  /** The input changed: thumbnails are asked for again. */
  invalidate(): void {
    this.painted.clear();
    this.setHover(null, -1);
    this.schedule();
  }

  /** Expands or collapses a block. */
  toggle(groupId: string): void {
    if (this.expanded.has(groupId)) this.expanded.delete(groupId);
    else this.expanded.add(groupId);
    this.relayout();
  }

  private relayout(): void {
    const { columns: cols, spans } = columns(this.tree, this.expanded);
    this.cols = cols;
    this.spans = spans;
    this.depth = spans.reduce((m, s) => Math.max(m, s.depth + 1), 0);
    this.laidWidth = this.scroller.clientWidth;
    const { boxes, width } = layoutColumns(cols, this.specs, this.laidWidth);
    this.boxes = boxes;
    this.content.style.width = `${width}px`;
    this.colOf = new Map(cols.map((c, i) => [c.layer, i]));
    this.holder = new Map();
    cols.forEach((c, i) => {
      for (let k = c.group ? c.group.first : c.layer; k <= c.layer; k++) this.holder.set(k, i);
    });
    for (const b of this.heads.values()) b.remove();
    this.heads.clear();
    this.el.dataset.columns = String(cols.length);
    this.setHover(null, -1);
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    const raf =
      typeof requestAnimationFrame === "function"
        ? requestAnimationFrame
        : (f: () => void) => setTimeout(f, 16);
    this.frame = raf(() => {
      this.frame = 0;
      this.render();
    }) as unknown as number;
  }

  /** Paints what is in view now (also called directly by tests and benchmarks). */
  render(): void {
    if (Math.abs(this.scroller.clientWidth - this.laidWidth) > 8 && this.cols.length) {
      this.relayout(); // spread the columns over the new width
      return;
    }
    const width = this.scroller.clientWidth || 800;
    const left = this.scroller.scrollLeft;
    const [i0, i1] = visibleRange(this.boxes, left - 40, left + width + 40);
    this.view = { left, width, i0, i1 };
    this.syncHeads();
    this.paintBase();
    this.paintLinks();
    const [p0, p1] = visibleRange(this.boxes, left - width, left + 2 * width); // and a bit more
    const names = this.cols
      .slice(p0, p1)
      .map((c) => this.specs[c.layer]?.name)
      .filter((n): n is string => !!n && !this.isOp(n));
    this.thumbs.want(names);
    const pending = this.cols.slice(i0, i1).filter((c) => {
      const s = this.specs[c.layer];
      return s && !s.is_op && !this.thumbs.get(s.name) && !this.thumbs.hasFailed(s.name);
    }).length;
    this.el.dataset.pending = String(pending);
    if (
      pending === 0 &&
      this.cols.length > 0 &&
      this.el.isConnected &&
      !this.el.closest("[hidden]")
    ) {
      this.on.ready?.();
    }
  }

  private isOp(name: string): boolean {
    return Boolean(this.specs.find((s) => s.name === name)?.is_op);
  }

  // ---- DOM: one header button per column in view ------------------------------------------
  private syncHeads(): void {
    const { i0, i1 } = this.view;
    for (const [i, b] of this.heads) {
      if (i < i0 || i >= i1) {
        if (b.contains(document.activeElement)) continue; // keep the focused one
        b.remove();
        this.heads.delete(i);
      }
    }
    const top = bands(this.depth);
    for (let i = i0; i < i1; i++) {
      if (this.heads.has(i)) continue;
      const col = this.cols[i] as Column;
      const box = this.boxes[i] as ColumnBox;
      const spec = this.specs[col.layer];
      if (!spec) continue;
      const b = h("button", "fmw-ov-col");
      b.type = "button";
      b.dataset.col = String(i);
      b.dataset.index = String(col.layer);
      b.dataset.layer = spec.name;
      b.dataset.kind = box.kind;
      b.style.left = `${box.x - OV.GAP / 2 + 2}px`;
      b.style.top = `${top.head}px`;
      b.style.width = `${box.w + OV.GAP - 4}px`;
      b.style.height = `${top.thumbs - top.head - 2}px`;
      const shape = shapeLabel(spec);
      const parent = this.parentLabel(i);
      if (col.group) {
        b.dataset.group = col.group.id;
        b.setAttribute("aria-expanded", "false");
        b.title = `${col.group.label}: a block of ${col.group.layers} layers (click to open it)\nits output: ${spec.name} ${shape}`;
        b.append(
          h("span", "fmw-ov-name", `${shortName(col.group.label, parent)} ▸`),
          h("span", "fmw-ov-kind", `${col.group.layers} layers`),
        );
      } else {
        const leaf = shortName(pathParts(spec.name).leaf, parent);
        b.title = `${spec.name}\n${spec.class_name} · ${shape}\nclick: open its maps`;
        const name = box.kind === "op" ? "" : leaf;
        b.append(
          h("span", "fmw-ov-name", name),
          h("span", "fmw-ov-kind", box.kind === "op" ? "" : kindWord(spec)),
        );
      }
      b.append(h("span", "fmw-ov-shape", box.kind === "op" ? "" : shape));
      b.addEventListener("click", () => {
        if (col.group) this.toggle(col.group.id);
        else this.on.open(spec.name, null);
      });
      this.content.append(b);
      this.heads.set(i, b);
    }
  }

  /** Name of the innermost expanded block holding column i ("" when none). */
  private parentLabel(i: number): string {
    let best: Span | null = null;
    for (const s of this.spans) {
      if (s.from <= i && i <= s.to && (!best || s.depth > best.depth)) best = s;
    }
    return best?.group.label ?? "";
  }

  // ---- base canvas -------------------------------------------------------------------------
  private sizeCanvas(c: HTMLCanvasElement): CanvasRenderingContext2D | null {
    const dpr = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
    const { left, width } = this.view;
    const w = Math.round(width * dpr);
    const hh = Math.round(OVERVIEW_HEIGHT * dpr);
    if (c.width !== w) c.width = w;
    if (c.height !== hh) c.height = hh;
    c.style.width = `${width}px`;
    c.style.height = `${OVERVIEW_HEIGHT}px`;
    const ctx = ctx2d(c);
    if (!ctx) return null;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, hh);
    ctx.setTransform(dpr, 0, 0, dpr, -left * dpr, 0); // draw in content coordinates
    return ctx;
  }

  private paintBase(): void {
    this.stage.style.width = `${this.view.width}px`;
    const ctx = this.sizeCanvas(this.base);
    if (!ctx) return;
    const b = bands(this.depth);
    for (const s of this.spans) {
      if (s.to < this.view.i0 || s.from >= this.view.i1) continue;
      const x0 = (this.boxes[s.from] as ColumnBox).x - 6;
      const last = this.boxes[s.to] as ColumnBox;
      drawBracket(ctx, x0, last.x + last.w + 6, s.depth * OV.BRACKET_H, s.group.label);
    }
    for (let i = this.view.i0; i < this.view.i1; i++) this.paintColumn(ctx, i, b);
  }

  private style(spec: LayerSpec, t: Thumb): (c: number) => Style {
    return (c) => thumbStyle(spec, t, c, this.mode, this.globalM);
  }

  private paintedOf(spec: LayerSpec, t: Thumb): Painted {
    let p = this.painted.get(spec.name);
    if (!p) {
      const image = spec.index === 0;
      p = {
        strip: thumbStrip(t, this.style(spec, t), image),
        picture: image ? rgbPicture(t) : null,
      };
      this.painted.set(spec.name, p);
    }
    return p;
  }

  private paintColumn(ctx: CanvasRenderingContext2D, i: number, b: ReturnType<typeof bands>): void {
    const col = this.cols[i] as Column;
    const box = this.boxes[i] as ColumnBox;
    const spec = this.specs[col.layer];
    if (!spec) return;
    const t = this.thumbs.get(spec.name);
    const floor = b.label - 3;
    if (box.kind === "op") {
      drawOp(ctx, box, floor - 18, spec.class_name);
      return;
    }
    const p = t ? this.paintedOf(spec, t) : null;
    if (box.kind === "box") {
      drawBar(ctx, box, floor, t?.total ?? spec.channels ?? 1, OV.GLYPH_H - 8);
      if (t?.vector && p) this.paintVector(ctx, box, b.thumbs, t, p.strip);
      return;
    }
    const rows = this.rowsCols(spec)[0];
    const cols = this.rowsCols(spec)[1];
    const v = volume(rows, cols, spec.channels ?? 1, this.largest);
    let face: { strip: HTMLCanvasElement; t: Thumb; slot: number } | null = null;
    if (t && p) {
      face = p.picture
        ? { strip: p.picture, t: { ...t, channels: 1 }, slot: 0 }
        : { strip: p.strip, t, slot: 0 };
    }
    drawVolume(ctx, box, floor, v, spec.channels ?? 1, face, Boolean(col.group));
    const fit = thumbsThatFit(b.thumbs, OVERVIEW_HEIGHT);
    const total = spec.channels ?? 0;
    const shown = Math.min(fit, t ? t.channels : total);
    for (let s = 0; s < shown; s++) {
      const r = thumbRect(box, b.thumbs, s, rows, cols);
      if (t && p) blit(ctx, p.strip, t, s, r);
      else {
        ctx.fillStyle = "#eaeef2";
        ctx.fillRect(r.x, r.y, r.w, r.h);
      }
    }
    if (total > shown) {
      const y = b.thumbs + shown * (OV.THUMB + OV.THUMB_GAP) + 9;
      ctx.fillStyle = "#656d76";
      ctx.font = "10px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(`+ ${total - shown} more`, box.x + box.w / 2, y);
    }
  }

  /** A vector's first values as a column of cells (at most VECTOR_CELLS). */
  private vectorCells(t: Thumb, top: number): { n: number; size: number } {
    const room = OVERVIEW_HEIGHT - top - 18;
    const n = Math.min(t.channels, VECTOR_CELLS);
    const size = Math.max(6, Math.min(14, Math.floor(room / Math.max(1, n))));
    return { n: Math.min(n, Math.floor(room / size)), size };
  }

  private vectorRect(box: ColumnBox, top: number, size: number, k: number): Rect {
    return { x: box.x + (box.w - 16) / 2, y: top + k * size, w: 16, h: size - 1 };
  }

  private paintVector(
    ctx: CanvasRenderingContext2D,
    box: ColumnBox,
    top: number,
    t: Thumb,
    strip: HTMLCanvasElement,
  ): void {
    const { n, size } = this.vectorCells(t, top);
    ctx.imageSmoothingEnabled = false;
    ctx.font = "9px ui-monospace, monospace";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let k = 0; k < n; k++) {
      const r = this.vectorRect(box, top, size, k);
      ctx.drawImage(strip, k, 0, 1, 1, r.x, r.y, r.w, r.h);
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
      ctx.fillText(`+ ${t.total - n}`, box.x + box.w / 2, top + n * size + 10);
    }
  }

  private rowsCols(spec: LayerSpec): [number, number] {
    const size = spec.links?.size;
    if (size) return [size[0], size[1]];
    return [spec.height ?? 1, spec.width ?? 1];
  }

  // ---- hover and links ---------------------------------------------------------------------
  /** Column, map and cell under a pointer event (content coordinates), or null. */
  private hit(ev: MouseEvent): { i: number; cell: OverviewCell; rect: Rect } | null {
    const p = canvasPoint(this.base, ev);
    const dpr = this.base.width / Math.max(1, this.view.width);
    const x = p.x / dpr + this.view.left;
    const y = p.y / dpr;
    const i = columnAt(this.boxes, x);
    if (i < 0) return null;
    const col = this.cols[i] as Column;
    const box = this.boxes[i] as ColumnBox;
    const spec = this.specs[col.layer];
    const t = spec && this.thumbs.get(spec.name);
    if (!spec || !t) return null;
    const top = bands(this.depth).thumbs;
    if (box.kind === "box" && t.vector) {
      const { n, size } = this.vectorCells(t, top);
      const k = Math.floor((y - top) / size);
      if (k < 0 || k >= n) return null;
      const cell = { index: col.layer, layer: spec.name, filter: k, row: 0, col: 0 };
      return { i, cell, rect: this.vectorRect(box, top, size, k) };
    }
    if (box.kind !== "map" && box.kind !== "group") return null;
    const shown = Math.min(thumbsThatFit(top, OVERVIEW_HEIGHT), t.channels);
    const slot = slotAt(top, y, shown);
    if (slot < 0) return null;
    const [rows, cols] = this.rowsCols(spec);
    const r = thumbRect(box, top, slot, rows, cols);
    const c = cellIn(r, rows, cols, x, y);
    if (!c) return null;
    const one = { r0: c.row, r1: c.row + 1, c0: c.col, c1: c.col + 1 };
    return {
      i,
      cell: { index: col.layer, layer: spec.name, filter: slot, ...c },
      rect: cellsRect(r, rows, cols, one),
    };
  }

  private onMove(ev: PointerEvent): void {
    const hit = this.hit(ev);
    if (!hit) {
      this.setHover(null, -1);
      return;
    }
    const cur = this.hovered;
    const c = hit.cell;
    if (
      cur &&
      cur.index === c.index &&
      cur.filter === c.filter &&
      cur.row === c.row &&
      cur.col === c.col
    )
      return;
    this.hoverCell(c, hit.i);
  }

  /** Hovers a cell (also used by tests and benchmarks): fields, overlay, read-out. */
  hoverCell(c: OverviewCell, column = this.colOf.get(c.index) ?? -1): OverviewHover {
    const t0 = performance.now();
    const t = this.thumbs.get(c.layer);
    let value: number | null = null;
    let factor = 1;
    if (t) {
      factor = t.factor;
      value = t.vector
        ? (t.values[c.filter] ?? null)
        : (t.values[
            (c.filter * t.height + Math.floor(c.row / factor)) * t.width +
              Math.floor(c.col / factor)
          ] ?? null);
    }
    const hv: OverviewHover = {
      ...c,
      value,
      factor,
      fields: fieldsOf(this.graph, c.index, c.filter, c.row, c.col),
    };
    this.setHover(hv, column);
    performance.measure("fmw:overview-hover", { start: t0 }); // read by benchmarks/
    return hv;
  }

  private setHover(hv: OverviewHover | null, column: number): void {
    if (!hv && !this.hovered) return;
    this.hovered = hv;
    this.hoveredCol = column;
    this.paintLinks();
    this.on.hover(hv);
  }

  private onClick(ev: MouseEvent): void {
    const hit = this.hit(ev);
    if (hit) {
      this.on.open(hit.cell.layer, hit.cell);
      return;
    }
    // a click on a bracket collapses its block
    const p = canvasPoint(this.base, ev);
    const dpr = this.base.width / Math.max(1, this.view.width);
    const x = p.x / dpr + this.view.left;
    const row = Math.floor(p.y / dpr / OV.BRACKET_H);
    const span = this.spans.find((s) => {
      if (s.depth !== row) return false;
      const a = this.boxes[s.from] as ColumnBox;
      const z = this.boxes[s.to] as ColumnBox;
      return x >= a.x - 6 && x <= z.x + z.w + 6;
    });
    if (span) this.toggle(span.group.id);
  }

  private paintLinks(): void {
    const ctx = this.sizeCanvas(this.overlay);
    const hv = this.hovered;
    if (!ctx || !hv) return;
    const b = bands(this.depth);
    const own =
      this.hoveredCol >= 0
        ? this.cellRect(this.hoveredCol, hv.filter, {
            r0: hv.row,
            r1: hv.row + 1,
            c0: hv.col,
            c1: hv.col + 1,
          })
        : null;
    // the columns of the layers it reads directly and of those reading it directly
    const neighbours = new Set<number>();
    const near = (layer: number) => {
      const col = this.holder.get(layer);
      if (col !== undefined && col !== this.hoveredCol) neighbours.add(col);
    };
    for (const link of this.graph[hv.index]?.inputs ?? []) near(link.from);
    this.graph.forEach((n, j) => {
      if (n.inputs?.some((l) => l.from === hv.index)) near(j);
    });
    for (let i = this.view.i0; i < this.view.i1; i++) {
      if (i === this.hoveredCol) continue;
      const layer = (this.cols[i] as Column).layer;
      const reads = hv.fields.reads.get(layer);
      const field = reads ?? hv.fields.readBy.get(layer);
      if (!field) continue;
      const color = reads ? READS_COLOR : READ_BY_COLOR;
      this.underline(ctx, i, b, color);
      const rects = this.fieldRects(i, field);
      for (const r of rects) markCells(ctx, r, color);
      if (own && neighbours.has(i)) this.connect(ctx, own, rects, color, Boolean(reads));
    }
    if (own) {
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#000";
      ctx.strokeRect(own.x - 1.5, own.y - 1.5, own.w + 3, own.h + 3);
      ctx.strokeStyle = "#fff";
      ctx.strokeRect(own.x - 0.5, own.y - 0.5, own.w + 1, own.h + 1);
    }
  }

  /** The rectangles of a field in column i: one per shown map it covers (or the column's box). */
  private fieldRects(i: number, f: Field): Rect[] {
    const col = this.cols[i] as Column;
    const box = this.boxes[i] as ColumnBox;
    const spec = this.specs[col.layer];
    const t = spec && this.thumbs.get(spec.name);
    const top = bands(this.depth).thumbs;
    if (!spec || box.kind === "op" || box.kind === "box" || !t || t.vector) return [];
    const [rows, cols] = this.rowsCols(spec);
    const shown = Math.min(thumbsThatFit(top, OVERVIEW_HEIGHT), t.channels);
    const out: Rect[] = [];
    for (let s = 0; s < shown; s++) {
      if (!hasChannel(f.ch, s)) continue;
      const r = thumbRect(box, top, s, rows, cols);
      out.push(f.box ? cellsRect(r, rows, cols, f.box) : r);
    }
    return out;
  }

  /** Rectangle of cells `b` in map `filter` of column i (null when not shown). */
  private cellRect(
    i: number,
    filter: number,
    b: { r0: number; r1: number; c0: number; c1: number },
  ): Rect | null {
    const col = this.cols[i] as Column;
    const box = this.boxes[i] as ColumnBox;
    const spec = this.specs[col.layer];
    const t = spec && this.thumbs.get(spec.name);
    const top = bands(this.depth).thumbs;
    if (!spec || !t) return null;
    if (t.vector) {
      const { n, size } = this.vectorCells(t, top);
      return filter < n ? this.vectorRect(box, top, size, filter) : null;
    }
    const [rows, cols] = this.rowsCols(spec);
    return cellsRect(thumbRect(box, top, filter, rows, cols), rows, cols, b);
  }

  /** A coloured bar under a linked column's label (its maps may be out of the shown ones). */
  private underline(
    ctx: CanvasRenderingContext2D,
    i: number,
    b: ReturnType<typeof bands>,
    color: string,
  ): void {
    const box = this.boxes[i] as ColumnBox;
    ctx.fillStyle = color;
    ctx.fillRect(box.x, b.thumbs - 4, box.w, 3);
  }

  /** Lines between the hovered cell and its field in an adjacent column. */
  private connect(
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

  // ---- keyboard ----------------------------------------------------------------------------
  private onKey(ev: KeyboardEvent): void {
    const b = (ev.target as HTMLElement).closest<HTMLButtonElement>(".fmw-ov-col");
    if (!b) return;
    const i = Number(b.dataset.col);
    const next =
      ev.key === "ArrowRight"
        ? i + 1
        : ev.key === "ArrowLeft"
          ? i - 1
          : ev.key === "Home"
            ? 0
            : ev.key === "End"
              ? this.cols.length - 1
              : -1;
    if (next < 0 || next >= this.cols.length) return;
    ev.preventDefault();
    this.reveal(next);
    this.heads.get(next)?.focus();
  }

  /** Scrolls column i into view and renders at once. */
  reveal(i: number): void {
    const box = this.boxes[i];
    if (!box) return;
    const { left, width } = {
      left: this.scroller.scrollLeft,
      width: this.scroller.clientWidth || 800,
    };
    if (box.x - OV.GAP < left) this.scroller.scrollLeft = Math.max(0, box.x - OV.GAP);
    else if (box.x + box.w + OV.GAP > left + width)
      this.scroller.scrollLeft = box.x + box.w + OV.GAP - width;
    this.render();
  }

  /** Whether layer `index` has a column of its own (shown alone, or as a block's output). */
  isColumn(index: number): boolean {
    return this.colOf.has(index);
  }

  /** Client rectangle of map `slot` of layer `layer`'s column (tests check pixels with it). */
  clientRect(layer: string, slot: number): Rect | null {
    const i = this.colOf.get(this.specs.findIndex((s) => s.name === layer));
    if (i === undefined) return null;
    const spec = this.specs[(this.cols[i] as Column).layer] as LayerSpec;
    const [rows, cols] = this.rowsCols(spec);
    const r = thumbRect(this.boxes[i] as ColumnBox, bands(this.depth).thumbs, slot, rows, cols);
    const c = this.base.getBoundingClientRect();
    return { x: c.left + r.x - this.view.left, y: c.top + r.y, w: r.w, h: r.h };
  }

  dispose(): void {
    this.d.dispose();
  }
}
