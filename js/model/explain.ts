/**
 * Decoding the kernel's replies for the filter card and the input overlays (mirror of
 * `fmwidget/example_wire.py` and `fmwidget/overlays.py`): `examples` (top dataset patches of
 * one filter), `overlay` (a Grad-CAM / saliency / effective-receptive-field map in [0, 1] on
 * the input grid) and `filter_image` (a feature visualisation: RGBA bytes, or a time series'
 * float32 values). Pure: no model,
 * no requests, no DOM.
 */
import { asView } from "./decode";
import { decodeFloat16 } from "./float16";

/** One input crop: values channel-major (C, H, W), as decoded from float16. */
export interface Patch {
  height: number;
  width: number;
  channels: number;
  values: Float32Array;
}

/** The top examples of one filter (best first). */
export interface ExampleSet {
  layer: string;
  channel: number;
  k: number;
  numSamples: number;
  values: number[];
  indices: number[];
  positions: number[][];
  /** Per example, per spatial axis, the `[start, stop)` of its receptive field (null: unknown). */
  boxes: number[][][] | null;
  /** The crops (empty when the examples were saved without their samples). */
  patches: Patch[];
}

function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  return Number.NaN;
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) {
    throw new Error(`Expected ${what}: a list of integers, received ${JSON.stringify(v)}`);
  }
  return v as number[];
}

/**
 * A patch buffer (float16, `hwc` or `chw`; spatial 1D patches are one row) → channel-major
 * values. `shape` is the array's shape as Python has it (without batch axis).
 */
export function decodePatch(shape: unknown, layout: unknown, buffer: unknown): Patch {
  const dims = intList(shape, "a patch shape");
  const view = asView(buffer);
  if (!view) throw new Error("Expected a buffer for every patch, received none");
  if (dims.length !== 2 && dims.length !== 3) {
    throw new Error(`Expected a patch of rank 2 (1D input) or 3, received shape (${dims})`);
  }
  const chw = layout === "chw";
  let h: number;
  let w: number;
  let c: number;
  if (dims.length === 2) {
    h = 1;
    [w, c] = (chw ? [dims[1], dims[0]] : dims) as [number, number];
  } else {
    [h, w, c] = (chw ? [dims[1], dims[2], dims[0]] : dims) as [number, number, number];
  }
  const raw = decodeFloat16(view);
  if (raw.length !== h * w * c) {
    throw new Error(`Expected ${h * w * c} float16 values for a patch, received ${raw.length}`);
  }
  if (chw) return { height: h, width: w, channels: c, values: raw };
  const out = new Float32Array(raw.length);
  const hw = h * w;
  for (let i = 0; i < hw; i++) {
    for (let ch = 0; ch < c; ch++) out[ch * hw + i] = raw[i * c + ch] as number;
  }
  return { height: h, width: w, channels: c, values: out };
}

/** The `examples` reply and its buffers (one float16 buffer per patch). */
export function decodeExamples(msg: Record<string, unknown>, buffers: unknown[]): ExampleSet {
  const patchHeads = Array.isArray(msg.patches) ? msg.patches : [];
  if (patchHeads.length !== buffers.length) {
    throw new Error(
      `Expected ${patchHeads.length} patch buffers, received ${buffers.length} (examples reply)`,
    );
  }
  const patches = patchHeads.map((p, i) => {
    const head = (p ?? {}) as { shape?: unknown; layout?: unknown };
    return decodePatch(head.shape, head.layout, buffers[i]);
  });
  const values = (Array.isArray(msg.values) ? msg.values : []).map(num);
  const indices = intList(msg.indices ?? [], "indices");
  const positions = (Array.isArray(msg.positions) ? msg.positions : []).map((p) =>
    intList(p, "a position"),
  );
  const boxes = Array.isArray(msg.boxes)
    ? msg.boxes.map((b) => (Array.isArray(b) ? b.map((a) => intList(a, "a box axis")) : []))
    : null;
  return {
    layer: String(msg.layer ?? ""),
    channel: Number(msg.channel),
    k: Number(msg.k),
    numSamples: Number(msg.num_samples),
    values,
    indices,
    positions,
    boxes,
    patches,
  };
}

/** The value range patches are shown in: [0, 1] or [0, 255] when they fit, else their own. */
export function patchRange(patches: readonly Patch[]): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const p of patches) {
    for (const v of p.values) {
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!(hi >= lo)) return [0, 1];
  if (lo >= 0 && hi <= 1) return [0, 1];
  if (lo >= 0 && hi <= 255 && hi > 16) return [0, 255];
  if (!(hi > lo)) return [lo, lo + 1];
  return [lo, hi];
}

/**
 * A patch as RGBA pixels, one per input pixel: 3 channels as RGB, any other count as the
 * grey of their mean; `(v - lo) / (hi - lo)` × 255, clamped; NaN/±Inf magenta.
 */
export function patchRgba(p: Patch, lo: number, hi: number): Uint8ClampedArray {
  const hw = p.height * p.width;
  const out = new Uint8ClampedArray(hw * 4);
  const s = 255 / (hi - lo);
  const rgb = p.channels === 3;
  for (let i = 0; i < hw; i++) {
    let bad = false;
    if (rgb) {
      for (let ch = 0; ch < 3; ch++) {
        const v = p.values[ch * hw + i] as number;
        if (!Number.isFinite(v)) bad = true;
        out[i * 4 + ch] = (v - lo) * s;
      }
    } else {
      let sum = 0;
      for (let ch = 0; ch < p.channels; ch++) sum += p.values[ch * hw + i] as number;
      const g = (sum / p.channels - lo) * s;
      if (!Number.isFinite(g)) bad = true;
      out[i * 4] = g;
      out[i * 4 + 1] = g;
      out[i * 4 + 2] = g;
    }
    if (bad) out.set([255, 0, 255], i * 4);
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** A decoded `overlay` reply: values in [0, 1] (row-major), divided by `peak`. */
export interface Overlay {
  mode: string;
  height: number;
  width: number;
  values: Float32Array;
  peak: number;
  layer: string | null;
  classIndex: number | null;
  classLabel: string | null;
  method: string | null;
  cell: { layer: string; row: number; col: number; filter: number | null } | null;
}

export function decodeOverlay(msg: Record<string, unknown>, buffers: unknown[]): Overlay {
  const h = Number(msg.height);
  const w = Number(msg.width);
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new Error(
      `Expected an overlay height and width ≥ 1, received ${msg.height}×${msg.width}`,
    );
  }
  const view = asView(buffers[0]);
  if (!view) throw new Error("Expected the overlay's values in a buffer, received none");
  const values = decodeFloat16(view);
  if (values.length !== h * w) {
    throw new Error(`Expected ${h * w} overlay values (${h}×${w}), received ${values.length}`);
  }
  const mode = String(msg.mode ?? "");
  const filter = msg.filter;
  return {
    mode,
    height: h,
    width: w,
    values,
    peak: num(msg.peak),
    layer: typeof msg.layer === "string" ? msg.layer : null,
    classIndex: Number.isInteger(msg.class_index) ? (msg.class_index as number) : null,
    classLabel: typeof msg.class_label === "string" ? msg.class_label : null,
    method: typeof msg.method === "string" ? msg.method : null,
    cell:
      mode === "erf"
        ? {
            layer: String(msg.layer ?? ""),
            row: Number(msg.row),
            col: Number(msg.col),
            filter: Number.isInteger(filter) ? (filter as number) : null,
          }
        : null,
  };
}

/** Opacity of a value of 1 in the overlay (0 is transparent): alpha = round(v × this). */
export const OVERLAY_ALPHA = 200;

/**
 * Overlay values as RGBA over the image: colour from `lut` (256 RGBA entries), opacity
 * proportional to the value, so the image shows through where the value is low.
 */
export function overlayRgba(values: Float32Array, lut: Uint8ClampedArray): Uint8ClampedArray {
  const out = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const raw = values[i] as number;
    const v = Number.isFinite(raw) ? Math.min(1, Math.max(0, raw)) : 0;
    const j = Math.min(255, Math.floor(v * 256)) * 4;
    out[i * 4] = lut[j] as number;
    out[i * 4 + 1] = lut[j + 1] as number;
    out[i * 4 + 2] = lut[j + 2] as number;
    out[i * 4 + 3] = Math.round(v * OVERLAY_ALPHA);
  }
  return out;
}

/** What every decoded `filter_image` reply carries. */
interface FilterVisBase {
  layer: string;
  filter: number;
  activation: number;
  startActivation: number;
  steps: number;
}

/**
 * A decoded `filter_image` reply: a feature visualisation. `image`: RGBA bytes; `slices`: a
 * volume's `depth` slices side by side (1 px apart) as one RGBA image; `series`: a time
 * series' values in [0, 1], channel-major (`channels` × `length`), for a line plot.
 */
export type FilterImage =
  | (FilterVisBase & {
      kind: "image" | "slices";
      height: number;
      width: number;
      rgba: Uint8ClampedArray;
      /** Depth slices (kind `slices`). */
      depth?: number;
    })
  | (FilterVisBase & { kind: "series"; length: number; channels: number; values: Float32Array });

function positive(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) {
    throw new Error(`Expected ${what}: a positive integer, received ${JSON.stringify(v)}`);
  }
  return v as number;
}

export function decodeFilterImage(msg: Record<string, unknown>, buffers: unknown[]): FilterImage {
  const base: FilterVisBase = {
    layer: String(msg.layer ?? ""),
    filter: Number(msg.filter),
    activation: num(msg.activation),
    startActivation: num(msg.start_activation),
    steps: Number(msg.steps),
  };
  const kind = msg.kind ?? "image";
  const view = asView(buffers[0]);
  if (kind === "series") {
    const T = positive(msg.length, "the series' length (time steps)");
    const C = positive(msg.channels, "the series' channels");
    if (!view || view.byteLength !== T * C * 4) {
      throw new Error(
        `Expected ${T}×${C} float32 values for the filter's series, received ${view?.byteLength ?? "no"} bytes`,
      );
    }
    // (T, C) row-major float32, little-endian as numpy sends it → channel-major (C, T)
    const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
    const values = new Float32Array(T * C);
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) values[c * T + t] = dv.getFloat32((t * C + c) * 4, true);
    }
    return { ...base, kind: "series", length: T, channels: C, values };
  }
  if (kind !== "image" && kind !== "slices") {
    throw new Error(
      `Expected a filter image of kind "image", "slices" or "series", received ${JSON.stringify(kind)}`,
    );
  }
  const h = Number(msg.height);
  const w = Number(msg.width);
  if (!view || !Number.isInteger(h) || !Number.isInteger(w) || view.byteLength !== h * w * 4) {
    throw new Error(
      `Expected ${h}×${w} RGBA bytes for the filter image, received ${view?.byteLength ?? "none"}`,
    );
  }
  const rgba = new Uint8ClampedArray(view.byteLength);
  rgba.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  const depth = kind === "slices" ? positive(msg.depth, "the volume's depth slices") : undefined;
  return { ...base, kind, height: h, width: w, rgba, ...(depth ? { depth } : {}) };
}
