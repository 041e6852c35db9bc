import { describe, expect, it } from "vitest";
import { f16Bytes } from "../testing/fake-model";
import type { LayerData } from "../types";
import { decodeThumbs, thumbFromLayer } from "./thumbs";

function layer(h: number, w: number, c: number): LayerData {
  const values = Float32Array.from({ length: c * h * w }, (_, i) => (i % 7) - 2);
  return {
    layer: "l",
    preActivation: false,
    version: 1,
    height: h,
    width: w,
    channels: c,
    values,
    stats: { min: [], max: [], mean: [], zero_fraction: [] },
    layerMin: -2,
    layerMax: 4,
  };
}

describe("thumbFromLayer", () => {
  it("block-averages the first maps like the kernel (smaller blocks at the far edges)", () => {
    const d = layer(70, 45, 20);
    const t = thumbFromLayer(d);
    expect([t.factor, t.height, t.width, t.channels, t.total]).toEqual([3, 24, 15, 16, 20]);
    // the last block of the last row: rows 69..69, cols 42..44 of map 15
    let sum = 0;
    for (let c = 42; c < 45; c++) sum += d.values[(15 * 70 + 69) * 45 + c] as number;
    expect(t.values[(15 * 24 + 23) * 15 + 14]).toBeCloseTo(sum / 3, 5);
    const small = thumbFromLayer(layer(6, 6, 2));
    expect(small.factor).toBe(1);
    expect(Array.from(small.values)).toEqual(Array.from(layer(6, 6, 2).values));
  });
  it("keeps a vector's first values", () => {
    const t = thumbFromLayer(layer(1, 1, 300), true);
    expect([t.vector, t.channels, t.total]).toEqual([true, 256, 300]);
  });
});

describe("decodeThumbs", () => {
  it("reads each layer's slice of the one float16 buffer, scaled back", () => {
    const msg = {
      type: "thumbs",
      layers: [
        {
          layer: "a",
          vector: false,
          channels: 1,
          height: 2,
          width: 2,
          factor: 1,
          offset: 0,
          scale: 1,
          total: 3,
          min: 0,
          max: 4,
          map_min: [0],
          map_max: [4],
        },
        { layer: "bad", error: "several outputs" },
        {
          layer: "b",
          vector: true,
          channels: 3,
          height: 1,
          width: 1,
          offset: 4,
          scale: 1024,
          total: 3,
          min: 0,
          max: 3072,
        },
      ],
    };
    const [a, b, ...rest] = decodeThumbs(msg, f16Bytes([1, 2, 3, 4, 1, 2, 3]));
    expect(rest).toEqual([]);
    expect(Array.from(a?.values ?? [])).toEqual([1, 2, 3, 4]);
    expect(a?.mapMax).toEqual([4]);
    expect(Array.from(b?.values ?? [])).toEqual([1024, 2048, 3072]);
    expect(() =>
      decodeThumbs({ layers: [{ ...msg.layers[0], offset: 9 }] }, f16Bytes([1])),
    ).toThrow(/outside the buffer/);
  });
});
