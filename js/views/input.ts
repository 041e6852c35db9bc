/** The model input image, with receptive fields outlined on an overlay. */
import { type Lut, mapToRgba } from "../colormap";
import { ctx2d, h } from "../dom";
import type { LayerData, Window } from "../types";

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

  constructor() {
    this.canvas.setAttribute("aria-label", "model input");
    this.el.append(this.canvas, this.overlay);
  }

  get imageSize(): { h: number; w: number } | null {
    return this.data ? { h: this.data.height, w: this.data.width } : null;
  }

  paint(data: LayerData, grayLut: Lut, seqLut: Lut): void {
    this.data = data;
    const { height: H, width: W, channels: C } = data;
    const k = Math.max(1, Math.floor(DISPLAY / Math.max(H, W)));
    this.k = k;
    for (const c of [this.canvas, this.overlay]) {
      c.width = W * k;
      c.height = H * k;
    }
    this.overlay.style.width = "100%";
    this.overlay.style.height = "100%";
    const ctx = ctx2d(this.canvas);
    if (!ctx) return;
    const img = ctx.createImageData(W * k, H * k);
    const [lo, hi] = imageRange(data.layerMin, data.layerMax);
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

  /** Outlines windows (half-open, in input pixels): hover field white, trace field orange. */
  outline(hoverField: Window | null, traceField: Window | null): void {
    const ctx = ctx2d(this.overlay);
    if (!ctx) return;
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const k = this.k;
    const box = (w: Window, color: string, width: number) => {
      const x = w.col0 * k;
      const y = w.row0 * k;
      const ww = Math.max(1, (w.col1 - w.col0) * k);
      const hh = Math.max(1, (w.row1 - w.row0) * k);
      ctx.lineWidth = width;
      ctx.strokeStyle = "rgba(0,0,0,0.8)";
      ctx.strokeRect(x - width, y - width, ww + 2 * width, hh + 2 * width);
      ctx.strokeStyle = color;
      ctx.strokeRect(x, y, ww, hh);
    };
    const lw = Math.max(1, Math.round(k / 4));
    if (traceField) box(traceField, "#ff8c00", lw);
    if (hoverField) box(hoverField, "#ffffff", lw);
  }
}
