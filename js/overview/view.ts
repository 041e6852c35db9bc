/**
 * The overview: the whole network left to right, one column per layer (or per collapsed
 * block): a volume glyph whose face, depth and label (`24×24×8`) read at a glance, and the
 * layer's first maps as thumbnails. Hovering a cell lights up, in every column in view, the
 * cells it reads (orange) and the cells that read it (blue), with lines to the adjacent
 * columns; clicking a column or a cell opens that layer's grid.
 *
 * Virtualised: only the columns in view get DOM (their header buttons, `heads.ts`) and are
 * painted (`paint.ts`), on one viewport-sized canvas that stays in place while the strip
 * scrolls; thumbnails are asked for the columns in view only. Where columns and cells sit is
 * the `Strip` (`strip.ts`).
 */
import { canvasPoint, ctx2d, Disposer, h } from "../dom";
import type { LayerSpec, RangeMode } from "../types";
import { globalMagnitude } from "./draw";
import { ColumnHeads } from "./heads";
import { OV, type Rect, visibleRange } from "./layout";
import { type Fields, fieldsOf, type LinkNode, linkGraph } from "./links";
import { ColumnPainter, paintLinks } from "./paint";
import { type OverviewCell, Strip, type StripHit } from "./strip";
import type { ThumbCache } from "./thumbs";
import { buildTree, initialExpanded, type TreeNode } from "./tree";

export { OVERVIEW_HEIGHT, type OverviewCell } from "./strip";

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

export class OverviewView {
  readonly el = h("div", "fmw-overview fmw-pane");
  private readonly scroller = h("div", "fmw-ov-scroll");
  private readonly content = h("div", "fmw-ov-content");
  private readonly stage = h("div", "fmw-ov-stage");
  private readonly base = h("canvas", "fmw-ov-base");
  private readonly overlay = h("canvas", "fmw-ov-links");
  private readonly strip: Strip;
  private readonly heads: ColumnHeads;
  private readonly painter = new ColumnPainter();
  private tree: TreeNode[] = [];
  private expanded = new Set<string>();
  private graph: LinkNode[] = [];
  private hovered: OverviewHover | null = null;
  private hoveredCol = -1;
  private frame = 0;
  /** The width the columns were spread over (a resize spreads them again). */
  private laidWidth = 0;
  private view = { left: 0, width: 0, i0: 0, i1: 0 };
  private readonly d = new Disposer();

  constructor(
    private readonly thumbs: ThumbCache,
    private readonly on: OverviewHandlers,
  ) {
    this.strip = new Strip(thumbs);
    this.heads = new ColumnHeads(this.content, (col, spec) => {
      if (col.group) this.toggle(col.group.id);
      else this.on.open(spec.name, null);
    });
    this.stage.append(this.base, this.overlay);
    this.content.append(this.stage);
    this.scroller.append(this.content);
    this.el.append(this.scroller);
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
    this.strip.specs = specs;
    this.tree = buildTree(specs);
    this.expanded = initialExpanded(this.tree);
    this.graph = linkGraph(specs);
    this.painter.largest = Math.max(
      1,
      ...specs.map((s) => (s.spatial ? Math.max(s.height ?? 1, s.width ?? 1) : 1)),
    );
    this.painter.globalM = globalMagnitude(specs);
    this.painter.reset();
    this.relayout();
  }

  /** The colour-range mode changed: repaint the thumbnails. */
  setMode(mode: RangeMode): void {
    if (mode === this.painter.mode) return;
    this.painter.mode = mode;
    this.painter.reset();
    this.schedule();
  }

  /** The input changed: thumbnails are asked for again. */
  invalidate(): void {
    this.painter.reset();
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
    this.laidWidth = this.scroller.clientWidth;
    const width = this.strip.layout(this.tree, this.expanded, this.laidWidth);
    this.content.style.width = `${width}px`;
    this.content.style.height = `${this.strip.height}px`;
    this.el.dataset.height = String(this.strip.height);
    this.heads.clear();
    this.el.dataset.columns = String(this.strip.cols.length);
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
    const { specs, cols, boxes } = this.strip;
    if (Math.abs(this.scroller.clientWidth - this.laidWidth) > 8 && cols.length) {
      this.relayout(); // spread the columns over the new width
      return;
    }
    const width = this.scroller.clientWidth || 800;
    const left = this.scroller.scrollLeft;
    const [i0, i1] = visibleRange(boxes, left - 40, left + width + 40);
    this.view = { left, width, i0, i1 };
    this.heads.sync(this.strip, i0, i1);
    this.stage.style.width = `${width}px`;
    const ctx = this.sizeCanvas(this.base);
    if (ctx) this.painter.paintBase(ctx, this.strip, i0, i1);
    this.paintOverlay();
    const [p0, p1] = visibleRange(boxes, left - width, left + 2 * width); // and a bit more
    const names = cols
      .slice(p0, p1)
      .map((c) => specs[c.layer])
      .filter((s): s is LayerSpec => !!s && !s.is_op)
      .map((s) => s.name);
    this.thumbs.want(names);
    const pending = cols.slice(i0, i1).filter((c) => {
      const s = specs[c.layer];
      return s && !s.is_op && !this.thumbs.get(s.name) && !this.thumbs.hasFailed(s.name);
    }).length;
    this.el.dataset.pending = String(pending);
    if (pending === 0 && cols.length > 0 && this.el.isConnected && !this.el.closest("[hidden]")) {
      this.on.ready?.();
    }
  }

  /** Sizes a canvas to the viewport and sets it to draw in content coordinates. */
  private sizeCanvas(c: HTMLCanvasElement): CanvasRenderingContext2D | null {
    const dpr = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
    const { left, width } = this.view;
    const w = Math.round(width * dpr);
    const hh = Math.round(this.strip.height * dpr);
    if (c.width !== w) c.width = w;
    if (c.height !== hh) c.height = hh;
    c.style.width = `${width}px`;
    c.style.height = `${this.strip.height}px`;
    const ctx = ctx2d(c);
    if (!ctx) return null;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, hh);
    ctx.setTransform(dpr, 0, 0, dpr, -left * dpr, 0);
    return ctx;
  }

  private paintOverlay(): void {
    const ctx = this.sizeCanvas(this.overlay);
    const hv = this.hovered;
    if (!ctx || !hv) return;
    paintLinks(ctx, this.strip, this.graph, hv, this.hoveredCol, this.view.i0, this.view.i1);
  }

  // ---- hover and links ---------------------------------------------------------------------
  /** A pointer event's content coordinates. */
  private point(ev: MouseEvent): { x: number; y: number } {
    const p = canvasPoint(this.base, ev);
    const dpr = this.base.width / Math.max(1, this.view.width);
    return { x: p.x / dpr + this.view.left, y: p.y / dpr };
  }

  private hit(ev: MouseEvent): StripHit | null {
    const { x, y } = this.point(ev);
    return this.strip.hit(x, y);
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
  hoverCell(c: OverviewCell, column = this.strip.colOf.get(c.index) ?? -1): OverviewHover {
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
    this.paintOverlay();
    this.on.hover(hv);
  }

  private onClick(ev: MouseEvent): void {
    const hit = this.hit(ev);
    if (hit) {
      this.on.open(hit.cell.layer, hit.cell);
      return;
    }
    const { x, y } = this.point(ev);
    const span = this.strip.bracketAt(x, y); // a click on a bracket collapses its block
    if (span) this.toggle(span.group.id);
  }

  // ---- keyboard ----------------------------------------------------------------------------
  private onKey(ev: KeyboardEvent): void {
    const b = (ev.target as HTMLElement).closest<HTMLButtonElement>(".fmw-ov-col");
    if (!b) return;
    const i = Number(b.dataset.col);
    const last = this.strip.cols.length - 1;
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: last }[ev.key] ?? -1;
    if (next < 0 || next > last) return;
    ev.preventDefault();
    this.reveal(next);
    this.heads.focus(next);
  }

  /** Scrolls column i into view and renders at once. */
  reveal(i: number): void {
    const box = this.strip.boxes[i];
    if (!box) return;
    const left = this.scroller.scrollLeft;
    const width = this.scroller.clientWidth || 800;
    if (box.x - OV.GAP < left) this.scroller.scrollLeft = Math.max(0, box.x - OV.GAP);
    else if (box.x + box.w + OV.GAP > left + width)
      this.scroller.scrollLeft = box.x + box.w + OV.GAP - width;
    this.render();
  }

  /** Whether layer `index` has a column of its own (shown alone, or as a block's output). */
  isColumn(index: number): boolean {
    return this.strip.colOf.has(index);
  }

  /** Client rectangle of map `slot` of layer `layer`'s column (tests check pixels with it). */
  clientRect(layer: string, slot: number): Rect | null {
    const i = this.strip.colOf.get(this.strip.specs.findIndex((s) => s.name === layer));
    if (i === undefined) return null;
    const spec = this.strip.at(i).spec as LayerSpec;
    const r = this.strip.mapRect(i, spec, slot);
    const c = this.base.getBoundingClientRect();
    return { x: c.left + r.x - this.view.left, y: c.top + r.y, w: r.w, h: r.h };
  }

  dispose(): void {
    this.d.dispose();
  }
}
