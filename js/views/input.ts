/** The model input image, with receptive fields outlined on an overlay. */
import { type Lut, mapToRgba } from "../colormap";
import { ctx2d, h } from "../dom";
import type { LayerData, Window } from "../types";
import { paintSeriesInput, shadeSpans } from "./series";

const DISPLAY = 224;

/**
 * Value range an image is shown in: [0, 1] for images in it, [0, 255] for 8-bit-like images
 * (max above 16), else the image's own min/max.
 */
export function imageRange(lo: number, hi: number): [number, number] {
  if (lo >= 0 && hi <= 1) return [0, 1];
  if (lo >= 0 && hi <= 255 && hi > 16) return [0, 255];
  if (!(hi > lo)) return [lo, lo + 1];
  return [lo, hi];
}

export class InputView {
  readonly el = h("div", "fmw-stack");
  readonly canvas = h("canvas", "fmw-input");
  private readonly overlay = h("canvas", "fmw-overlay");
  private k = 1;
  private data: LayerData | null = null;
  /** A time series (1-D input): drawn as a line plot, fields as shaded spans. */
  private series = false;
  /** The value range the image is shown in; null: from the image (`imageRange`). */
  range: [number, number] | null = null;

  constructor() {
    this.canvas.setAttribute("aria-label", "model input");
    this.el.append(this.canvas, this.overlay);
  }

  get imageSize(): { h: number; w: number } | null {
    return this.data ? { h: this.data.height, w: this.data.width } : null;
  }

  /** Paints the input; `rank` 1 draws a time series (lines, or a heat strip when many). */
  paint(data: LayerData, grayLut: Lut, seqLut: Lut, rank = 2): void {
    this.data = data;
    this.series = rank === 1;
    this.el.dataset.rank = String(rank);
    if (this.series) {
      const ctx = ctx2d(this.canvas);
      if (!ctx) return;
      this.k = paintSeriesInput(this.canvas, ctx, data, seqLut, DISPLAY);
      this.overlay.width = this.canvas.width;
      this.overlay.height = this.canvas.height;
      const cssH = Math.round((DISPLAY * this.canvas.height) / this.canvas.width);
      for (const c of [this.canvas, this.overlay]) {
        c.style.width = `${DISPLAY}px`;
        c.style.height = `${cssH}px`;
      }
      return;
    }
    const { height: H, width: W, channels: C } = data;
    const k = Math.max(1, Math.floor(DISPLAY / Math.max(H, W)));
    this.k = k;
    for (const c of [this.canvas, this.overlay]) {
      c.width = W * k;
      c.height = H * k;
    }
    // the outline layer is exactly the image's size, whatever the layout around it does
    const cssW = DISPLAY;
    const cssH = Math.round((DISPLAY * H) / W);
    for (const c of [this.canvas, this.overlay]) {
      c.style.width = `${cssW}px`;
      c.style.height = `${cssH}px`;
    }
    const ctx = ctx2d(this.canvas);
    if (!ctx) return;
    const img = ctx.createImageData(W * k, H * k);
    const [lo, hi] = this.range ?? imageRange(data.layerMin, data.layerMax);
    const target = { out: img.data, offset: 0, stride: W * k * 4, scale: k };
    if (C === 3) {
      const out = img.data;
      const s = 255 / (hi - lo);
      const hw = H * W;
      for (let r = 0; r < H * k; r++) {
        for (let c = 0; c < W * k; c++) {
          const i = Math.floor(r / k) * W + Math.floor(c / k);
          const p = (r * W * k + c) * 4;
          for (let ch = 0; ch < 3; ch++) {
            const v = data.values[ch * hw + i] as number;
            out[p + ch] = Number.isFinite(v) ? (v - lo) * s : ch === 1 ? 0 : 255;
          }
          out[p + 3] = 255;
        }
      }
    } else {
      const lut = C === 1 ? grayLut : seqLut;
      mapToRgba(data.values, 0, W, H, { lo, hi, diverging: false }, lut, target);
    }
    ctx.putImageData(img, 0, 0);
  }

  /**
   * Outlines windows (half-open, in input pixels): hover field white, trace field orange. The
   * lines are drawn inside the window (a dark line inside the coloured one), so a field at the
   * border of the image is outlined on all four sides and nothing lies outside the image.
   */
  outline(hoverField: Window | null, traceField: Window | null): void {
    const ctx = ctx2d(this.overlay);
    if (!ctx) return;
    if (this.series) {
      const { width, height } = this.overlay;
      shadeSpans(ctx, this.k, width, height, hoverField, traceField);
      return;
    }
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const k = this.k;
    const box = (w: Window, color: string, width: number) => {
      const x0 = Math.max(0, w.col0) * k;
      const y0 = Math.max(0, w.row0) * k;
      const x1 = Math.min(this.overlay.width, w.col1 * k);
      const y1 = Math.min(this.overlay.height, w.row1 * k);
      if (x1 <= x0 || y1 <= y0) return;
      const inset = (d: number) => {
        const ww = Math.max(0, x1 - x0 - 2 * d);
        const hh = Math.max(0, y1 - y0 - 2 * d);
        ctx.strokeRect(x0 + d, y0 + d, ww, hh);
      };
      ctx.lineWidth = width;
      ctx.strokeStyle = color;
      inset(width / 2);
      ctx.strokeStyle = "rgba(0,0,0,0.8)";
      inset(width * 1.5);
    };
    const lw = Math.max(1, Math.round(k / 4));
    if (traceField) box(traceField, "#ff8c00", lw);
    if (hoverField) box(hoverField, "#ffffff", lw);
  }
}
