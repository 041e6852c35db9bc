/**
 * Decoding the kernel's messages, in one place (the browser's mirror of `fmwidget/encode.py`
 * and `fmwidget/messages.json_safe`): `layer_data` headers and buffers become channel-major
 * (C, H, W) float32 values, multiplied back by the kernel's scale, plus per-filter statistics;
 * `trace` messages get their NaN/±Inf back. Pure: no model, no requests (see ./store.ts).
 */
import type { FilterStats, LayerData, LayerDataMsg } from "../types";
import { decodeFloat16, decodeFloat32 } from "./float16";

export type Layout = "chw" | "hwc";

/**
 * Returns values in (C, H, W) order times `scale` (a number for the whole layer, or one per
 * channel). `src` may be reused (and returned) when it is already channel-major.
 */
export function toChannelMajor(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  layout: Layout,
  scale: number | readonly number[] = 1,
): Float32Array {
  const hw = h * w;
  const perChannel = Array.isArray(scale);
  if (perChannel && scale.length !== c) {
    throw new Error(`Expected ${c} channel scales, received ${scale.length}`);
  }
  const k = (ch: number): number => (perChannel ? Number(scale[ch]) : Number(scale));
  if (layout === "chw") {
    for (let ch = 0; ch < c; ch++) {
      const s = k(ch);
      if (s === 1) continue;
      for (let i = ch * hw, end = i + hw; i < end; i++) src[i] = (src[i] as number) * s;
    }
    return src;
  }
  const out = new Float32Array(src.length);
  for (let ch = 0; ch < c; ch++) {
    const s = k(ch);
    const base = ch * hw;
    for (let i = 0, j = ch; i < hw; i++, j += c) out[base + i] = (src[j] as number) * s;
  }
  return out;
}

/**
 * Per-filter statistics over finite values: min, max, mean, fraction of exact zeros (over all
 * cells), count of NaN/±Inf. A filter without finite values gets min = max = mean = 0.
 */
export function computeStats(values: Float32Array, c: number, hw: number): FilterStats {
  return statsInto(emptyStats(c), values, hw, 0, c);
}

/** Statistics arrays for `c` filters, all 0 until filled by {@link statsInto}. */
export function emptyStats(c: number): FilterStats {
  const zeros = () => new Array<number>(c).fill(0);
  return {
    min: zeros(),
    max: zeros(),
    mean: zeros(),
    zero_fraction: zeros(),
    nonfinite_count: zeros(),
  };
}

/** Fills the statistics of filters [c0, c1) of channel-major `values` into `stats`. */
export function statsInto(
  stats: FilterStats,
  values: Float32Array,
  hw: number,
  c0: number,
  c1: number,
): FilterStats {
  for (let ch = c0; ch < c1; ch++) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    let sum = 0;
    let zeros = 0;
    let bad = 0;
    for (let i = ch * hw, end = i + hw; i < end; i++) {
      const v = values[i] as number;
      if (v === 0) {
        zeros++;
        continue;
      }
      if (v - v !== 0) {
        bad++; // NaN or ±Inf
        continue;
      }
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      sum += v;
    }
    const finite = hw - bad;
    if (zeros > 0) {
      if (lo > 0) lo = 0;
      if (hi < 0) hi = 0;
    }
    const has = finite > 0;
    stats.min[ch] = has ? lo : 0;
    stats.max[ch] = has ? hi : 0;
    stats.mean[ch] = has ? sum / finite : 0;
    stats.zero_fraction[ch] = hw > 0 ? zeros / hw : 0;
    (stats.nonfinite_count as number[])[ch] = bad;
  }
  return stats;
}

/** Min of mins and max of maxes (0, 0 for no channels). */
export function layerRange(stats: FilterStats): { lo: number; hi: number } {
  if (stats.min.length === 0) return { lo: 0, hi: 0 };
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of stats.min) if (v < lo) lo = v;
  for (const v of stats.max) if (v > hi) hi = v;
  return { lo, hi };
}

/** A buffer as bytes (ArrayBuffer or any view); null when it is neither. */
export function asView(b: unknown): ArrayBufferView | null {
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  if (ArrayBuffer.isView(b)) return b;
  return null;
}

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};
/** Keys whose values are numbers (or grids of numbers) in a `trace` message. */
const NUMERIC_KEYS = new Set([
  "value",
  "bias",
  "total",
  "contribution",
  "others",
  "window",
  "kernel",
]);

/**
 * Jupyter's JSON has no NaN/±Inf, so the kernel sends them as the strings "NaN", "Infinity" and
 * "-Infinity" in numeric fields; this turns them back into numbers (other strings, such as layer
 * names, are left alone).
 */
export function reviveNumbers(obj: unknown, numeric = false): unknown {
  if (typeof obj === "string") return numeric && obj in NON_FINITE ? NON_FINITE[obj] : obj;
  if (Array.isArray(obj)) return obj.map((v) => reviveNumbers(v, numeric));
  if (obj && typeof obj === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = reviveNumbers(v, NUMERIC_KEYS.has(k));
    return out;
  }
  return obj;
}

function validStats(s: unknown, c: number): s is FilterStats {
  if (!s || typeof s !== "object") return false;
  const st = s as Record<string, unknown>;
  return ["min", "max", "mean", "zero_fraction"].every(
    (k) => Array.isArray(st[k]) && (st[k] as unknown[]).length === c,
  );
}

/** Validates a layer_data message and decodes its buffer (scaling channels back if needed). */
export function decodeLayer(msg: LayerDataMsg, buffer: unknown): LayerData {
  return layerFromValues(msg, decodeValues(msg, buffer));
}

/**
 * Decodes a `float16_nonzero` buffer (mirror of `fmwidget.encode.pack_nonzero`): one mask
 * bit per value (bit i % 8 of byte i / 8: set when the value is not +0.0), zero-padded to a
 * multiple of 8 bytes, then the `nonzero` float16 values in order. Returns `count` values.
 */
export function unpackNonzero(view: ArrayBufferView, count: number, nonzero: number): Float32Array {
  const maskBytes = Math.ceil(count / 8);
  const padded = maskBytes + ((8 - (maskBytes % 8)) % 8);
  if (!Number.isInteger(nonzero) || nonzero < 0 || nonzero > count) {
    throw new Error(`Expected nonzero in [0, ${count}], received ${JSON.stringify(nonzero)}`);
  }
  if (view.byteLength !== padded + 2 * nonzero) {
    throw new Error(
      `Expected ${padded + 2 * nonzero} bytes for ${count} values with ${nonzero} nonzero, received ${view.byteLength}`,
    );
  }
  const mask = new Uint8Array(view.buffer, view.byteOffset, maskBytes);
  const values = decodeFloat16(new Uint8Array(view.buffer, view.byteOffset + padded, 2 * nonzero));
  const out = new Float32Array(count);
  let k = 0;
  for (let j = 0; j < maskBytes; j++) {
    let b = mask[j] as number;
    const base = j * 8;
    while (b !== 0) {
      const low = b & -b; // lowest set bit
      const i = base + 31 - Math.clz32(low);
      if (i >= count) throw new Error("Expected no mask bits past the last value");
      out[i] = values[k++] as number;
      b ^= low;
    }
  }
  if (k !== nonzero) throw new Error(`Expected ${nonzero} mask bits set, found ${k}`);
  return out;
}

/**
 * A `layer_data` message of a 3-D layer (`depth` > 1) as the rest of the decoding reads
 * messages: `height` becomes the rows of its stacked slices (depth × slice height), as its
 * buffer and part row ranges already count them; `depth` stays for the layer. Throws when
 * `depth` is not a positive int.
 */
export function stackSlices(msg: LayerDataMsg): LayerDataMsg {
  const d = msg.depth ?? 1;
  if (!Number.isInteger(d) || d < 1) {
    throw new Error(`Expected depth a positive int, received ${JSON.stringify(msg.depth)}`);
  }
  return d === 1 ? msg : { ...msg, height: msg.height * d };
}

/** Checks a layer_data buffer against its header; returns channel-major float32 values. */
export function decodeValues(msg: LayerDataMsg, buffer: unknown): Float32Array {
  const view = asView(buffer);
  const { height: h, width: w, channels: c } = msg;
  const name = JSON.stringify(msg.layer);
  if (!view) throw new Error(`layer_data for ${name} arrived without a buffer`);
  const layout = msg.layout ?? "chw";
  if (layout !== "chw" && layout !== "hwc") {
    throw new Error(`Expected layout "chw" or "hwc", received ${JSON.stringify(layout)}`);
  }
  let raw: Float32Array;
  if (msg.encoding === "float16_nonzero") {
    try {
      raw = unpackNonzero(view, h * w * c, Number(msg.nonzero));
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : err} (${name}, ${c}×${h}×${w})`);
    }
  } else {
    const bytesPer = msg.encoding === "float32" ? 4 : msg.encoding === "float16" ? 2 : 0;
    if (!bytesPer) {
      throw new Error(
        `Expected encoding "float16", "float16_nonzero" or "float32", received ${JSON.stringify(msg.encoding)}`,
      );
    }
    const want = h * w * c * bytesPer;
    if (view.byteLength !== want) {
      throw new Error(
        `Expected ${want} bytes for ${name} (${c}×${h}×${w} ${msg.encoding}), received ${view.byteLength}`,
      );
    }
    raw = bytesPer === 2 ? decodeFloat16(view) : decodeFloat32(view);
  }
  return toChannelMajor(raw, h, w, c, layout, msg.scale ?? 1);
}

/** A decoded layer from its channel-major values (statistics computed when not sent). */
export function layerFromValues(msg: LayerDataMsg, values: Float32Array): LayerData {
  const { height: h, width: w, channels: c } = msg;
  const stats = validStats(msg.stats, c) ? msg.stats : computeStats(values, c, h * w);
  const range = layerRange(stats);
  const num = (...xs: unknown[]): number | undefined => {
    for (const x of xs) if (typeof x === "number" && Number.isFinite(x)) return x;
    return undefined;
  };
  const data: LayerData = {
    layer: msg.layer,
    preActivation: Boolean(msg.pre_activation),
    version: msg.version,
    height: h,
    width: w,
    channels: c,
    values,
    stats,
    layerMin: num(msg.layer_min, msg.min) ?? range.lo,
    layerMax: num(msg.layer_max, msg.max) ?? range.hi,
  };
  if (msg.depth !== undefined && msg.depth > 1) data.depth = msg.depth;
  if (typeof msg.global_min === "number" && typeof msg.global_max === "number") {
    data.globalMin = msg.global_min;
    data.globalMax = msg.global_max;
  }
  return data;
}

/** The channel and row range of one part of a layer sent in parts (checked). */
export interface PartRange {
  chunk: number;
  chunks: number;
  c0: number;
  c1: number;
  r0: number;
  r1: number;
}

/**
 * Checks the part fields of a `layer_data` message: `chunk` of `chunks`, channels
 * [channel_start, channel_stop) and rows [row_start, row_stop) (all rows when absent).
 */
export function partRange(msg: LayerDataMsg): PartRange {
  const { height: h, channels: c, chunk, chunks, channel_start: c0, channel_stop: c1 } = msg;
  const { row_start: r0 = 0, row_stop: r1 = h } = msg;
  const int = (v: unknown): v is number => Number.isInteger(v);
  if (!int(chunks) || !int(chunk) || chunks < 1 || chunk < 0 || chunk >= chunks) {
    throw new Error(`Expected chunk in [0, chunks), received ${chunk} of ${chunks}`);
  }
  if (!int(c0) || !int(c1) || !int(c) || c0 < 0 || c1 <= c0 || c1 > c) {
    throw new Error(`Expected 0 ≤ channel_start < channel_stop ≤ ${c}, received [${c0}, ${c1})`);
  }
  if (!int(r0) || !int(r1) || !int(h) || r0 < 0 || r1 <= r0 || r1 > h) {
    throw new Error(`Expected 0 ≤ row_start < row_stop ≤ ${h}, received [${r0}, ${r1})`);
  }
  return { chunk, chunks, c0, c1, r0, r1 };
}

/** Decodes one part's buffer into its place in the layer's channel-major `values`. */
export function placePart(values: Float32Array, msg: LayerDataMsg, buffer: unknown): void {
  const { height: h, width: w } = msg;
  const { c0, c1, r0, r1 } = partRange(msg);
  const scale = Array.isArray(msg.scale) ? msg.scale.slice(c0, c1) : msg.scale;
  const rows = r1 - r0;
  const part = decodeValues({ ...msg, channels: c1 - c0, height: rows, scale }, buffer);
  if (rows === h) {
    values.set(part, c0 * h * w);
    return;
  }
  // a row range of each channel: rows [r0, r1) of channel ch start at (ch·h + r0)·w
  for (let ch = c0; ch < c1; ch++) {
    const src = part.subarray((ch - c0) * rows * w, (ch - c0 + 1) * rows * w);
    values.set(src, (ch * h + r0) * w);
  }
}
