// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import type { FilterImage } from "../model/explain";
import { VIS_PX, visCanvas, visCaption } from "./card-vis";

const base = { layer: "c", filter: 1, activation: 2, startActivation: 0.5, steps: 20 };

describe("feature visualisation figure", () => {
  it("captions a volume's slices and a series; an image as before", () => {
    const slices: FilterImage = {
      ...base,
      kind: "slices",
      depth: 4,
      height: 6,
      width: 23,
      rgba: new Uint8ClampedArray(6 * 23 * 4),
    };
    expect(visCaption(slices, "conv3d", 1)).toBe(
      "an input that excites filter 1 of conv3d (depth slices 0–3, left to right): activation 0.5 → 2 in 20 steps",
    );
    const image: FilterImage = { ...slices, kind: "image", depth: undefined };
    expect(visCaption(image, "c", 1)).toBe(
      "an input that excites filter 1 of c: activation 0.5 → 2 in 20 steps",
    );
    const series: FilterImage = {
      ...base,
      kind: "series",
      length: 40,
      channels: 2,
      values: new Float32Array(80),
    };
    expect(visCaption(series, "c", 1)).toContain("40 time steps, one line per input channel");
  });
  it("sizes a slice montage up to twice as wide as an image", () => {
    const slices: FilterImage = {
      ...base,
      kind: "slices",
      depth: 4,
      height: 6,
      width: 23,
      rgba: new Uint8ClampedArray(6 * 23 * 4),
    };
    const c = visCanvas(slices);
    expect([c.width, c.height, c.dataset.kind]).toEqual([23, 6, "slices"]);
    expect(Number.parseInt(c.style.width, 10)).toBeLessThanOrEqual(2 * VIS_PX);
    expect(Number.parseInt(c.style.width, 10)).toBeGreaterThan(VIS_PX); // ×11, not ×5
  });
});
