import { describe, expect, it } from "vitest";
import { computeStats } from "../model/decode";
import type { LayerData } from "../types";
import { depthOf, fieldDepth, inputSliceFor, sliceOf } from "./slices";

function volume(): LayerData {
  // 2 channels, depth 3, slices of 1 row × 2 columns: value = 100·c + 10·z + col
  const values = new Float32Array(2 * 3 * 2);
  for (let c = 0; c < 2; c++)
    for (let z = 0; z < 3; z++)
      for (let x = 0; x < 2; x++) values[c * 6 + z * 2 + x] = 100 * c + 10 * z + x;
  return {
    layer: "v",
    preActivation: false,
    version: 1,
    height: 3,
    width: 2,
    channels: 2,
    depth: 3,
    values,
    stats: computeStats(values, 2, 6),
    layerMin: 0,
    layerMax: 121,
  };
}

describe("sliceOf", () => {
  it("copies slice z of every map and keeps the volume's statistics", () => {
    const v = volume();
    const s = sliceOf(v, 1);
    expect([s.height, s.width, s.channels, s.slice, s.depth]).toEqual([1, 2, 2, 1, undefined]);
    expect([...s.values]).toEqual([10, 11, 110, 111]);
    expect(s.stats).toBe(v.stats); // one colour range for every slice
    expect([...sliceOf(v, 9).values]).toEqual([20, 21, 120, 121]); // clamped
    expect(depthOf(s)).toBe(1);
  });
  it("returns a layer without depth as is", () => {
    const v = { ...volume(), depth: undefined };
    expect(sliceOf(v, 1)).toBe(v);
  });
});

describe("fieldDepth / inputSliceFor", () => {
  const geo = {
    rows: [[0, 1]] as [number, number][],
    cols: [[0, 1]] as [number, number][],
    depth: [
      [0, 3],
      [2, 5],
    ] as [number, number][],
  };
  it("reads the depth intervals of the layer's geometry", () => {
    expect(fieldDepth(geo, 1)).toEqual([2, 5]);
    expect(fieldDepth(geo, 2)).toBeNull();
    expect(fieldDepth({ rows: [], cols: [] }, 0)).toBeNull();
  });
  it("shows the middle of the field's depth range, else the same relative depth", () => {
    expect(inputSliceFor(1, 2, 6, [2, 5])).toBe(3);
    expect(inputSliceFor(0, 2, 6, [0, 1])).toBe(0);
    expect(inputSliceFor(0, 2, 6, null)).toBe(1);
    expect(inputSliceFor(1, 2, 6, null)).toBe(4);
  });
});
