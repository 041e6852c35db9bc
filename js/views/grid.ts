/**
 * All feature maps of one layer drawn into ONE canvas through one ImageData and a colour
 * lookup table; hover, selection and dead-filter marks go on a transparent overlay canvas so
 * pointer moves never repaint the maps.
 */
import { type ColorRange, type Lut, mapToRgba } from "../colormap";
import { canvasPoint, ctx2d, Disposer, h, listenCellClick } from "../dom";
import {
  cellStart,
  firstScreenful,
  type GridLayout,
  gridLayout,
  hitTest,
  slotOrigin,
  stripLayout,
} from "../layout";
import { channelReady } from "../stats";
import { GRID_PANE_HEIGHT } from "../styles";
import type { LayerData, Window } from "../types";
import { paintStrip } from "./series";

/** Browsers refuse canvases much taller than this. */
const MAX_CANVAS_EDGE = 30000;

export interface GridCell {
  filter: number;
  row: number;
  col: number;
}

export interface GridHandlers {
  hover(cell: GridCell | null): void;
  click(cell: GridCell, ev: MouseEvent): void;
  key(ev: KeyboardEvent): void;
}

export interface OverlayState {
  hover: GridCell | null;
  selected: ReadonlySet<number>;
  dead: ReadonlySet<number>;
  /** Cells of this layer linked to the trace (window of the next step, or the traced cell). */
  linked: { filter: number; window: Window; color: string }[];
}

export class GridView {
  readonly el = h("div", "fmw-gridwrap fmw-pane");
  readonly canvas = h("canvas", "fmw-grid");
  private readonly overlay = h("canvas", "fmw-overlay");
  private layout: GridLayout | null = null;
  private order: number[] = [];
  private slotOf = new Map<number, number>();
  private image: ImageData | null = null;
  private readonly d = new Disposer();

  constructor(handlers: GridHandlers) {
    const stack = h("div", "fmw-stack");
    stack.append(this.canvas, this.overlay);
    this.el.append(stack);
    this.el.tabIndex = 0;
    this.el.setAttribute("role", "grid");
    this.el.setAttribute("aria-label", "feature maps: arrows move the cell, Enter traces it");
    this.d.listen(this.canvas, "pointermove", (ev) => handlers.hover(this.cellAt(ev)));
    this.d.listen(this.canvas, "pointerleave", () => handlers.hover(null));
    listenCellClick(this.d, this.canvas, (ev) => this.cellAt(ev), handlers.click);
    this.d.listen(this.el, "keydown", (ev) => handlers.key(ev));
  }

  /**
   * The layout of `n` maps of h×w in a pane `availWidth` wide: the largest integer scale at
   * which the layer fills the pane's width without scrolling (2 px of border); many maps keep
   * their base scale and the pane scrolls. With `inputLength` (a 1-D layer: the input's time
   * steps) the maps are strips stacked in one column, aligned to the input's time axis.
   */
  static layoutFor(
    n: number,
    mapH: number,
    mapW: number,
    availWidth: number,
    inputLength?: number,
  ): GridLayout {
    if (inputLength !== undefined) return stripLayout(n, mapW, inputLength, availWidth);
    let g = gridLayout(n, mapH, mapW, { availWidth, maxHeight: GRID_PANE_HEIGHT - 2 });
    if (g.height > MAX_CANVAS_EDGE && g.rows > 1) {
      const maxRows = Math.max(1, Math.floor((MAX_CANVAS_EDGE - g.gap) / (g.tileH + g.gap)));
      const cols = Math.ceil(n / maxRows);
      g = gridLayout(n, mapH, mapW, {
        availWidth: g.gap + cols * (g.tileW + g.gap),
        scale: g.scale,
      });
    }
    return g;
  }

  /** How many maps of h×w the pane shows before scrolling (what the kernel sends first). */
  static firstScreenful(
    n: number,
    mapH: number,
    mapW: number,
    availWidth: number,
    inputLength?: number,
  ): number {
    const g = GridView.layoutFor(n, mapH, mapW, availWidth, inputLength);
    return firstScreenful(g, GRID_PANE_HEIGHT - 2);
  }

  get currentLayout(): GridLayout | null {
    return this.layout;
  }

  /** Filters in display order. */
  get displayOrder(): readonly number[] {
    return this.order;
  }

  cellAt(ev: MouseEvent): GridCell | null {
    if (!this.layout) return null;
    const p = canvasPoint(this.canvas, ev);
    const hit = hitTest(this.layout, p.x, p.y);
    if (!hit) return null;
    const filter = this.order[hit.slot];
    return filter === undefined ? null : { filter, row: hit.row, col: hit.col };
  }

  /**
   * Repaints every map. `range(f)` gives filter f's colour range. Maps whose values have not
   * all arrived yet (a layer still coming in parts) are left blank.
   */
  paint(
    data: LayerData,
    order: number[],
    range: (f: number) => ColorRange,
    lut: Lut,
    availWidth: number,
    inputLength?: number,
  ): void {
    const n = order.length;
    const g = GridView.layoutFor(n, data.height, data.width, availWidth, inputLength);
    this.layout = g;
    this.order = order;
    this.slotOf = new Map(order.map((f, s) => [f, s]));
    for (const c of [this.canvas, this.overlay]) {
      // Resizing a canvas reallocates and clears it: only when the size really changes.
      if (c.width !== g.width) c.width = g.width;
      if (c.height !== g.height) c.height = g.height;
      c.style.width = `${g.width}px`;
      c.style.height = `${g.height}px`;
    }
    const ctx = ctx2d(this.canvas);
    if (!ctx || g.width === 0 || g.height === 0) return;
    let img = this.image;
    if (!img || img.width !== g.width || img.height !== g.height) {
      img = ctx.createImageData(g.width, g.height);
      this.image = img; // reused by the next repaint of the same size (gaps stay blank)
    }
    const hw = data.height * data.width;
    const stride = g.width * 4;
    for (let s = 0; s < n; s++) {
      const f = order[s] as number;
      const o = slotOrigin(g, s);
      if (!channelReady(data, f)) {
        for (let y = 0, at = o.y * stride + o.x * 4; y < g.tileH; y++, at += stride) {
          img.data.fill(0, at, at + g.tileW * 4);
        }
        continue;
      }
      if (inputLength !== undefined) {
        paintStrip(img, g, o, data.values, f * hw, range(f), lut);
        continue;
      }
      mapToRgba(data.values, f * hw, data.width, data.height, range(f), lut, {
        out: img.data,
        offset: o.y * stride + o.x * 4,
        stride,
        scale: g.scale,
      });
    }
    ctx.putImageData(img, 0, 0);
  }

  /** Pixel rectangle of a cell range of filter f (for outlines), or null if not shown. */
  private rect(f: number, row0: number, col0: number, row1: number, col1: number) {
    const g = this.layout;
    const s = this.slotOf.get(f);
    if (!g || s === undefined) return null;
    const o = slotOrigin(g, s);
    const x0 = cellStart(col0, g.mapW, g.tileW);
    const y0 = cellStart(row0, g.mapH, g.tileH);
    return {
      x: o.x + x0,
      y: o.y + y0,
      w: cellStart(col1, g.mapW, g.tileW) - x0,
      h: cellStart(row1, g.mapH, g.tileH) - y0,
    };
  }

  paintOverlay(st: OverlayState): void {
    const g = this.layout;
    const ctx = ctx2d(this.overlay);
    if (!g || !ctx) return;
    ctx.clearRect(0, 0, g.width, g.height);
    const tile = (f: number) => this.rect(f, 0, 0, g.mapH, g.mapW);
    if (st.dead.size) {
      ctx.strokeStyle = "rgba(255,255,255,0.7)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (const f of st.dead) {
        const r = tile(f);
        if (!r) continue;
        ctx.moveTo(r.x, r.y);
        ctx.lineTo(r.x + r.w, r.y + r.h);
      }
      ctx.stroke();
    }
    ctx.strokeStyle = "#ff8c00";
    ctx.lineWidth = 2;
    for (const f of st.selected) {
      const r = tile(f);
      if (r) ctx.strokeRect(r.x - 1, r.y - 1, r.w + 2, r.h + 2);
    }
    for (const l of st.linked) {
      const r = this.rect(l.filter, l.window.row0, l.window.col0, l.window.row1, l.window.col1);
      if (!r) continue;
      ctx.strokeStyle = l.color;
      ctx.lineWidth = 1;
      ctx.strokeRect(r.x + 0.5, r.y + 0.5, Math.max(1, r.w - 1), Math.max(1, r.h - 1));
    }
    if (st.hover) {
      const t = tile(st.hover.filter);
      const c = this.rect(
        st.hover.filter,
        st.hover.row,
        st.hover.col,
        st.hover.row + 1,
        st.hover.col + 1,
      );
      if (t && c) {
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        ctx.lineWidth = 1;
        ctx.strokeRect(t.x - 0.5, t.y - 0.5, t.w + 1, t.h + 1);
        ctx.strokeStyle = "#000";
        ctx.strokeRect(c.x - 0.5, c.y - 0.5, c.w + 1, c.h + 1);
        ctx.strokeStyle = "#fff";
        ctx.strokeRect(c.x - 1.5, c.y - 1.5, c.w + 3, c.h + 3);
      }
    }
  }

  /** Scrolls so that filter f's tile is visible. */
  reveal(f: number): void {
    const g = this.layout;
    const r = g ? this.rect(f, 0, 0, g.mapH, g.mapW) : null;
    if (!r) return;
    const top = r.y;
    const bottom = r.y + r.h;
    if (top < this.el.scrollTop) this.el.scrollTop = top - 4;
    else if (bottom > this.el.scrollTop + this.el.clientHeight)
      this.el.scrollTop = bottom - this.el.clientHeight + 4;
  }

  dispose(): void {
    this.d.dispose();
  }
}
