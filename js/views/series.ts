/**
 * Time series (1-D layers): each map as a strip aligned to the input's time axis, and the
 * input as a line plot (one line per channel) or, when its channels are many, a heat strip
 * (one row per channel, spectrogram-style), with receptive fields as shaded spans.
 */
import { type ColorRange, type Lut, lutIndex, rangeToAffine } from "../colormap";
import { cellOf, type GridLayout } from "../layout";
import type { LayerData, LayerSpec, Window } from "../types";

/** An input with more channels than this is drawn as a heat strip instead of lines. */
export const MAX_LINES = 8;
/** Line colours of the input's channels (Tableau 10). */
export const LINE_COLORS = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
];
/** Fill of the hovered cell's receptive field on the input plot. */
export const HOVER_SPAN = "rgba(20,20,20,0.22)";
/** Fill of the traced cell's receptive field on the input plot. */
export const TRACE_SPAN = "rgba(255,140,0,0.35)";
const BAD = [255, 0, 255, 255];

/** What a series plot needs of a layer's data (an input's, or a feature visualisation's). */
export type SeriesValues = Pick<
  LayerData,
  "values" | "width" | "height" | "channels" | "layerMin" | "layerMax"
>;

/** The spatial rank of a layer (2 for older specs without `rank`). */
export function rankOf(spec: LayerSpec | null | undefined): number {
  if (!spec) return 2;
  return spec.rank ?? (spec.spatial ? 2 : 0);
}

/** The input's time steps when the model's input is a time series (else undefined). */
export function seriesLength(layers: readonly LayerSpec[]): number | undefined {
  const input = layers.find((l) => l.kind === "input") ?? layers[0];
  return input && rankOf(input) === 1 && input.width ? input.width : undefined;
}

/**
 * Paints one map of `g.mapW` cells as a strip at `o` of `img`: pixel x shows the cell under
 * it (`cellOf`), so strips of every length span the same width.
 */
export function paintStrip(
  img: ImageData,
  g: GridLayout,
  o: { x: number; y: number },
  values: ArrayLike<number>,
  offset: number,
  range: ColorRange,
  lut: Lut,
): void {
  const { scale, offset: shift } = rangeToAffine(range);
  const out = img.data;
  const stride = img.width * 4;
  const row = new Uint8ClampedArray(g.tileW * 4);
  for (let x = 0; x < g.tileW; x++) {
    const i = lutIndex(values[offset + cellOf(x, g.mapW, g.tileW)] as number, scale, shift);
    for (let ch = 0; ch < 4; ch++) {
      row[x * 4 + ch] = i < 0 ? (BAD[ch] as number) : (lut[i * 4 + ch] as number);
    }
  }
  for (let y = 0; y < g.tileH; y++) out.set(row, (o.y + y) * stride + o.x * 4);
}

/** Canvas size of the input plot of `steps` time steps about `display` CSS pixels wide. */
export function plotSize(
  steps: number,
  channels: number,
  display: number,
): { k: number; width: number; height: number; rowH: number } {
  const k = Math.max(1, Math.floor(display / Math.max(1, steps)));
  const width = steps * k;
  if (channels > MAX_LINES) {
    const rowH = Math.max(1, Math.floor(width / 2 / channels));
    return { k, width, height: rowH * channels, rowH };
  }
  return { k, width, height: Math.max(24, Math.round(width * 0.5)), rowH: 0 };
}

/** The y pixel of value `v` in a plot `height` pixels tall showing [lo, hi] (2 px margins). */
export function plotY(v: number, lo: number, hi: number, height: number): number {
  const span = hi > lo ? hi - lo : 1;
  return 2 + (height - 4) * (1 - (v - lo) / span);
}

/**
 * Draws the input (`channels` × `width` values, channel-major) into `canvas`: lines on white,
 * or a heat strip of one row per channel through `lut` when channels are many. Returns the
 * pixels per time step.
 */
export function paintSeriesInput(
  canvas: HTMLCanvasElement,
  ctx: CanvasRenderingContext2D,
  data: SeriesValues,
  lut: Lut,
  display: number,
): number {
  const T = data.width * data.height;
  const C = data.channels;
  const size = plotSize(T, C, display);
  canvas.width = size.width;
  canvas.height = size.height;
  const lo = data.layerMin;
  const hi = data.layerMax > lo ? data.layerMax : lo + 1;
  if (size.rowH > 0) {
    const img = ctx.createImageData(size.width, size.height);
    const { scale, offset } = rangeToAffine({ lo, hi, diverging: false });
    for (let c = 0; c < C; c++) {
      for (let x = 0; x < size.width; x++) {
        const i = lutIndex(data.values[c * T + Math.floor(x / size.k)] as number, scale, offset);
        for (let y = c * size.rowH; y < (c + 1) * size.rowH; y++) {
          const p = (y * size.width + x) * 4;
          for (let ch = 0; ch < 4; ch++) {
            img.data[p + ch] = i < 0 ? (BAD[ch] as number) : (lut[i * 4 + ch] as number);
          }
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    return size.k;
  }
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size.width, size.height);
  if (lo < 0 && hi > 0) {
    ctx.strokeStyle = "#ccc";
    ctx.lineWidth = 1;
    const y0 = Math.round(plotY(0, lo, hi, size.height)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(0, y0);
    ctx.lineTo(size.width, y0);
    ctx.stroke();
  }
  ctx.lineWidth = Math.max(1, Math.min(2, size.k / 2));
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (let c = 0; c < C; c++) {
    ctx.strokeStyle = LINE_COLORS[c % LINE_COLORS.length] as string;
    ctx.beginPath();
    let pen = false;
    for (let t = 0; t < T; t++) {
      const v = data.values[c * T + t] as number;
      if (!Number.isFinite(v)) {
        pen = false;
        continue;
      }
      const x = (t + 0.5) * size.k;
      const y = plotY(v, lo, hi, size.height);
      if (pen) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      pen = true;
    }
    ctx.stroke();
  }
  return size.k;
}

/**
 * Shades receptive fields (half-open time-step windows; `col0`/`col1` are the steps) on the
 * input plot's overlay, across its whole height: the trace's in orange, the hovered one in
 * grey with dark edges.
 */
export function shadeSpans(
  ctx: CanvasRenderingContext2D,
  k: number,
  width: number,
  height: number,
  hover: Window | null,
  trace: Window | null,
): void {
  ctx.clearRect(0, 0, width, height);
  const span = (w: Window, fill: string) => {
    const x0 = Math.max(0, w.col0) * k;
    const x1 = Math.min(width, w.col1 * k);
    if (x1 <= x0) return;
    ctx.fillStyle = fill;
    ctx.fillRect(x0, 0, x1 - x0, height);
    ctx.fillStyle = "rgba(0,0,0,0.8)";
    ctx.fillRect(x0, 0, 1, height);
    ctx.fillRect(x1 - 1, 0, 1, height);
  };
  if (trace) span(trace, TRACE_SPAN);
  if (hover) span(hover, HOVER_SPAN);
}
