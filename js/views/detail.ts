/** Selected filters shown large, side by side. */
import { type ColorRange, type Lut, mapToRgba } from "../colormap";
import { canvasPoint, ctx2d, Disposer, h, listenCellClick } from "../dom";
import { fmt3, fmtPercent } from "../format";
import { cellAt } from "../layout";
import type { LayerData } from "../types";
import type { GridCell, GridHandlers } from "./grid";

const MAX_SHOWN = 8;
const DISPLAY = 160;

interface Item {
  filter: number;
  overlay: HTMLCanvasElement;
}

export class DetailView {
  readonly el = h("div", "fmw-detail");
  private items: Item[] = [];
  private k = 1;
  private dims = { h: 1, w: 1 };
  private readonly d = new Disposer();

  constructor(private readonly handlers: Pick<GridHandlers, "hover" | "click">) {
    const pick = (ev: MouseEvent): GridCell | null => {
      const canvas = (ev.target as HTMLElement).closest("canvas");
      const f = Number(canvas?.dataset.filter);
      if (!canvas || !Number.isInteger(f)) return null;
      const p = canvasPoint(canvas, ev);
      const c = cellAt(p.x, p.y, this.k, this.dims.h, this.dims.w);
      return c ? { filter: f, ...c } : null;
    };
    this.d.listen(this.el, "pointermove", (ev) => this.handlers.hover(pick(ev)));
    this.d.listen(this.el, "pointerleave", () => this.handlers.hover(null));
    listenCellClick(this.d, this.el, pick, (c, ev) => this.handlers.click(c, ev));
  }

  paint(
    data: LayerData | null,
    filters: readonly number[],
    range: (f: number) => ColorRange,
    lut: Lut,
  ): void {
    this.items = [];
    if (!data || filters.length === 0) {
      this.el.replaceChildren();
      return;
    }
    const { height: H, width: W } = data;
    const k = Math.max(1, Math.floor(DISPLAY / Math.max(H, W)));
    this.k = k;
    this.dims = { h: H, w: W };
    const nodes: HTMLElement[] = [];
    for (const f of filters.slice(0, MAX_SHOWN)) {
      if (f < 0 || f >= data.channels) continue;
      const item = h("div", "fmw-detail-item");
      const s = data.stats;
      item.append(
        h("span", "fmw-trace-name", `filter ${f}`),
        h(
          "span",
          "fmw-muted fmw-num",
          `max ${fmt3(s.max[f] ?? Number.NaN)} · mean ${fmt3(s.mean[f] ?? Number.NaN)} · zeros ${fmtPercent(s.zero_fraction[f] ?? Number.NaN)}`,
        ),
      );
      const stack = h("div", "fmw-stack");
      const canvas = h("canvas", "fmw-detail-map");
      const overlay = h("canvas", "fmw-overlay");
      canvas.dataset.filter = String(f);
      for (const c of [canvas, overlay]) {
        c.width = W * k;
        c.height = H * k;
      }
      const ctx = ctx2d(canvas);
      if (ctx) {
        const img = ctx.createImageData(W * k, H * k);
        mapToRgba(data.values, f * H * W, W, H, range(f), lut, {
          out: img.data,
          offset: 0,
          stride: W * k * 4,
          scale: k,
        });
        ctx.putImageData(img, 0, 0);
      }
      stack.append(canvas, overlay);
      item.append(stack);
      nodes.push(item);
      this.items.push({ filter: f, overlay });
    }
    if (filters.length > MAX_SHOWN) {
      nodes.push(h("span", "fmw-muted", `+${filters.length - MAX_SHOWN} more selected`));
    }
    this.el.replaceChildren(...nodes);
  }

  /** Marks the hovered cell in every shown map (same row/col across filters). */
  mark(hover: GridCell | null): void {
    const k = this.k;
    for (const it of this.items) {
      const ctx = ctx2d(it.overlay);
      if (!ctx) continue;
      ctx.clearRect(0, 0, it.overlay.width, it.overlay.height);
      if (!hover) continue;
      ctx.lineWidth = 1;
      ctx.strokeStyle = it.filter === hover.filter ? "#fff" : "rgba(255,255,255,0.5)";
      ctx.strokeRect(hover.col * k - 0.5, hover.row * k - 0.5, k + 1, k + 1);
    }
  }

  dispose(): void {
    this.d.dispose();
  }
}
