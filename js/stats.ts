/** Per-filter statistics: sort orders, dead filters, colour ranges. Pure. */
import type { ColorRange } from "./colormap";
import type { FilterStats, LayerData, RangeMode } from "./types";

export type SortKey = "index" | "max" | "mean" | "zero_fraction";

export const SORT_LABELS: Record<SortKey, string> = {
  index: "filter index",
  max: "max ↓",
  mean: "mean ↓",
  zero_fraction: "fraction of zeros ↓",
};

/** Whether filter `f` of `d` has all its values (always, once the layer is complete). */
export function channelReady(d: LayerData, f: number): boolean {
  return !d.ready || d.ready[f] === 1;
}

/**
 * A filter is dead when its map is constant (max == min), e.g. all zeros after ReLU.
 * Maps of a single cell are constant by nature: those are dead only if exactly zero.
 */
export function isDead(stats: FilterStats, f: number, cells: number): boolean {
  const lo = stats.min[f];
  const hi = stats.max[f];
  if (lo === undefined || hi === undefined) return false;
  if (cells <= 1) return lo === 0 && hi === 0;
  return lo === hi;
}

/** Filter indices ordered by a statistic, descending; ties and NaN keep index order. */
export function sortOrder(stats: FilterStats, channels: number, key: SortKey): number[] {
  const order = Array.from({ length: channels }, (_, i) => i);
  if (key === "index") return order;
  const col = stats[key];
  const val = (i: number) => {
    const v = col[i];
    return v === undefined || Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
  };
  return order.sort((a, b) => val(b) - val(a) || a - b);
}

/**
 * True when a map should use a diverging colormap centred on zero: pre-activation maps,
 * layers flagged `signed`, and any data with negative values. For a conv with a fused
 * activation the `signed` flag describes its pre-activation, so the post-activation view
 * follows its data (sequential after ReLU).
 */
export function isDiverging(
  signedLayer: boolean,
  preActivation: boolean,
  layerMin: number,
  fusedActivation = false,
): boolean {
  if (preActivation || layerMin < 0) return true;
  return signedLayer && !fusedActivation;
}

/** Running min/max over the layers seen for one data version (for the "global" range). */
export class GlobalRange {
  lo = Number.POSITIVE_INFINITY;
  hi = Number.NEGATIVE_INFINITY;
  /** Kernel-provided global bounds win over what the browser has seen. */
  exact = false;

  add(d: LayerData): void {
    if (d.globalMin !== undefined && d.globalMax !== undefined) {
      this.lo = d.globalMin;
      this.hi = d.globalMax;
      this.exact = true;
      return;
    }
    if (this.exact) return;
    if (Number.isFinite(d.layerMin)) this.lo = Math.min(this.lo, d.layerMin);
    if (Number.isFinite(d.layerMax)) this.hi = Math.max(this.hi, d.layerMax);
  }

  reset(): void {
    this.lo = Number.POSITIVE_INFINITY;
    this.hi = Number.NEGATIVE_INFINITY;
    this.exact = false;
  }
}

/**
 * Colour range of filter f in the given mode. One colour story: a value's colour depends only
 * on the value and one magnitude m (the largest |value| of the map, the layer or all layers,
 * by mode): diverging maps span [−m, m] and non-negative maps [0, m] of the same scale (their
 * table is the diverging one's positive half), so 1.52 is one colour in both.
 */
export function colorRange(
  d: LayerData,
  f: number,
  mode: RangeMode,
  diverging: boolean,
  global: { lo: number; hi: number },
): ColorRange {
  let lo = d.layerMin;
  let hi = d.layerMax;
  if (mode === "map") {
    lo = d.stats.min[f] ?? 0;
    hi = d.stats.max[f] ?? 0;
  } else if (mode === "global" && global.lo <= global.hi) {
    lo = Math.min(global.lo, d.layerMin);
    hi = Math.max(global.hi, d.layerMax);
  }
  return symmetric(lo, hi, diverging);
}

/** [−m, m] (diverging) or [0, m] with m the largest finite magnitude of [lo, hi]. */
export function symmetric(lo: number, hi: number, diverging: boolean): ColorRange {
  const m = magnitude(lo, hi);
  return { lo: diverging ? -m : 0, hi: m, diverging };
}

/** max(|lo|, |hi|) over the finite ends (0 when neither is). */
export function magnitude(lo: number, hi: number): number {
  const a = Number.isFinite(lo) ? Math.abs(lo) : 0;
  const b = Number.isFinite(hi) ? Math.abs(hi) : 0;
  return Math.max(a, b);
}
