/**
 * The pen's arithmetic (pure): round anti-aliased stamps along a stroke at the model's input
 * resolution, ink ↔ value mapping, and an uploaded image's pixels → the model's channels.
 *
 * Ink is 0..1 per pixel (0 background, 1 full stroke), white on black as MNIST: ink t is the
 * value `lo + t × (hi − lo)`, [lo, hi] the range the original input is shown in
 * (`imageRange`: [0, 1], [0, 255] or the image's own min/max).
 */

/** Brush radius in input pixels for an H×W input (medium size): a 28×28 digit's stroke. */
export function brushRadius(height: number, width: number, factor = 1): number {
  return Math.max(0.7, Math.min(height, width) / 16) * factor;
}

/** The sizes the pen offers, as factors of {@link brushRadius}. */
export const BRUSH_SIZES = { thin: 0.6, medium: 1, thick: 1.6 } as const;
export type BrushSize = keyof typeof BRUSH_SIZES;

/**
 * One stamp of ink at (x, y) in input pixels (fractional; pixel (r, c) covers [c, c+1) ×
 * [r, r+1)) into `values` (channel-major C×H×W, in [lo, hi]). Coverage is 1 within
 * `radius` of a pixel centre, falling to 0 over one pixel beyond. The pen raises each covered
 * pixel to at least its coverage (all channels: white ink), the eraser lowers it to at most
 * 1 − coverage. Returns whether any value changed.
 */
export function stamp(
  values: Float32Array,
  shape: { height: number; width: number; channels: number },
  x: number,
  y: number,
  radius: number,
  range: [number, number],
  erase: boolean,
): boolean {
  const { height: H, width: W, channels: C } = shape;
  const [lo, hi] = range;
  const span = hi - lo;
  let changed = false;
  const r0 = Math.max(0, Math.floor(y - radius - 1));
  const r1 = Math.min(H - 1, Math.ceil(y + radius + 1));
  const c0 = Math.max(0, Math.floor(x - radius - 1));
  const c1 = Math.min(W - 1, Math.ceil(x + radius + 1));
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const d = Math.hypot(c + 0.5 - x, r + 0.5 - y);
      const a = Math.min(1, Math.max(0, radius + 0.5 - d));
      if (a <= 0) continue;
      for (let ch = 0; ch < C; ch++) {
        const i = ch * H * W + r * W + c;
        const t = ((values[i] as number) - lo) / span;
        const next = erase ? Math.min(t, 1 - a) : Math.max(t, a);
        if (next !== t) {
          values[i] = lo + next * span;
          changed = true;
        }
      }
    }
  }
  return changed;
}

/** Points every half pixel from (x0, y0) to (x1, y1) (the end included, the start not). */
export function segment(x0: number, y0: number, x1: number, y1: number): [number, number][] {
  const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) * 2));
  const out: [number, number][] = [];
  for (let i = 1; i <= n; i++) out.push([x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n]);
  return out;
}

/**
 * The source rectangle [sx, sy, sw, sh] of a `srcW`×`srcH` image that fills an `w`×`h` input
 * without distorting it: the largest centred crop of the input's aspect ratio.
 */
export function coverCrop(srcW: number, srcH: number, w: number, h: number): number[] {
  const scale = Math.min(srcW / w, srcH / h);
  const sw = w * scale;
  const sh = h * scale;
  return [(srcW - sw) / 2, (srcH - sh) / 2, sw, sh];
}

/**
 * RGBA bytes (H×W×4, as `getImageData` gives) → channel-major values in `range`: one channel
 * is the luminance (ITU-R BT.601 weights), three are R, G, B; byte 255 is `hi`.
 */
export function rgbaToValues(
  rgba: Uint8ClampedArray,
  height: number,
  width: number,
  channels: number,
  range: [number, number],
): Float32Array {
  const [lo, hi] = range;
  const s = (hi - lo) / 255;
  const hw = height * width;
  const out = new Float32Array(hw * channels);
  for (let i = 0; i < hw; i++) {
    const p = i * 4;
    const r = rgba[p] as number;
    const g = rgba[p + 1] as number;
    const b = rgba[p + 2] as number;
    if (channels === 1) out[i] = lo + (0.299 * r + 0.587 * g + 0.114 * b) * s;
    else {
      out[i] = lo + r * s;
      out[hw + i] = lo + g * s;
      out[2 * hw + i] = lo + b * s;
    }
  }
  return out;
}
