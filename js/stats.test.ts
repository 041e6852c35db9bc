import { describe, expect, it } from "vitest";
import { colorRange, GlobalRange, isDead, isDiverging, sortOrder } from "./stats";
import type { FilterStats, LayerData } from "./types";

const stats: FilterStats = {
  min: [0, 0, -1, 2],
  max: [0, 5, 3, 2],
  mean: [0, 1, 0.5, 2],
  zero_fraction: [1, 0.5, 0.1, 0],
  nan_count: [0, 0, 0, 0],
};

function layer(over: Partial<LayerData> = {}): LayerData {
  return {
    layer: "c",
    preActivation: false,
    version: 1,
    height: 2,
    width: 2,
    channels: 4,
    values: new Float32Array(16),
    stats,
    layerMin: -1,
    layerMax: 5,
    ...over,
  };
}

describe("isDead", () => {
  it("marks constant maps", () => {
    expect(isDead(stats, 0, 4)).toBe(true);
    expect(isDead(stats, 1, 4)).toBe(false);
    expect(isDead(stats, 3, 4)).toBe(true);
  });
  it("single cells are dead only at zero", () => {
    expect(isDead(stats, 0, 1)).toBe(true);
    expect(isDead(stats, 3, 1)).toBe(false);
    expect(isDead(stats, 99, 4)).toBe(false);
  });
});

describe("sortOrder", () => {
  it("sorts descending by a statistic with index tie-break", () => {
    expect(sortOrder(stats, 4, "index")).toEqual([0, 1, 2, 3]);
    expect(sortOrder(stats, 4, "max")).toEqual([1, 2, 3, 0]);
    expect(sortOrder(stats, 4, "mean")).toEqual([3, 1, 2, 0]);
    expect(sortOrder(stats, 4, "zero_fraction")).toEqual([0, 1, 2, 3]);
  });
  it("puts NaN statistics last", () => {
    const s = { ...stats, max: [Number.NaN, 1, 2, 0] };
    expect(sortOrder(s, 4, "max")).toEqual([2, 1, 3, 0]);
  });
});

describe("ranges", () => {
  it("diverging for signed, pre-activation or negative layers", () => {
    expect(isDiverging(false, false, 0)).toBe(false);
    expect(isDiverging(true, false, 0)).toBe(true);
    expect(isDiverging(false, true, 0)).toBe(true);
    expect(isDiverging(false, false, -0.1)).toBe(true);
    // fused conv+relu: `signed` describes the pre-activation; the ReLU output is sequential
    expect(isDiverging(true, false, 0, true)).toBe(false);
    expect(isDiverging(true, true, 0, true)).toBe(true);
  });
  it("per map, per layer and global", () => {
    const g = new GlobalRange();
    g.add(layer());
    g.add(layer({ layerMin: -7, layerMax: 2 }));
    expect([g.lo, g.hi]).toEqual([-7, 5]);
    const d = layer();
    // one magnitude per scope: [-m, m] diverging, [0, m] for non-negative maps
    expect(colorRange(d, 1, "map", false, g)).toEqual({ lo: 0, hi: 5, diverging: false });
    expect(colorRange(d, 1, "layer", true, g)).toEqual({ lo: -5, hi: 5, diverging: true });
    expect(colorRange(d, 1, "global", true, g)).toEqual({ lo: -7, hi: 7, diverging: true });
    expect(colorRange(d, 1, "global", false, g)).toEqual({ lo: 0, hi: 7, diverging: false });
  });
  it("kernel-provided global bounds win", () => {
    const g = new GlobalRange();
    g.add(layer({ layerMin: -100 }));
    g.add(layer({ globalMin: -3, globalMax: 9 }));
    g.add(layer({ layerMin: -50 }));
    expect([g.lo, g.hi]).toEqual([-3, 9]);
    g.reset();
    expect(g.lo > g.hi).toBe(true);
  });
});
