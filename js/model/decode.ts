/**
 * Turning a decoded layer into the browser's form: channel-major (C, H, W) float32 values,
 * multiplied back by the kernel's scale, plus per-filter statistics. Pure.
 */
import type { FilterStats } from "../types";

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
  const stats: FilterStats = {
    min: new Array<number>(c),
    max: new Array<number>(c),
    mean: new Array<number>(c),
    zero_fraction: new Array<number>(c),
    nonfinite_count: new Array<number>(c),
  };
  for (let ch = 0; ch < c; ch++) {
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
