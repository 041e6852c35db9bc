import { describe, expect, it } from "vitest";
import type { TraceMsg } from "../types";
import { computeStats, layerRange, reviveNumbers, toChannelMajor } from "./decode";

describe("toChannelMajor", () => {
  it("transposes (H, W, C) to (C, H, W) and scales", () => {
    // H=1, W=2, C=3: hwc = [c0w0, c1w0, c2w0, c0w1, c1w1, c2w1]
    const hwc = new Float32Array([0, 10, 20, 1, 11, 21]);
    expect([...toChannelMajor(hwc, 1, 2, 3, "hwc", 2)]).toEqual([0, 2, 20, 22, 40, 42]);
  });
  it("scales channel-major data in place, per layer or per channel", () => {
    const chw = new Float32Array([1, 2, 3, 4]);
    expect(toChannelMajor(chw, 1, 2, 2, "chw", [1, 0.5])).toBe(chw);
    expect([...chw]).toEqual([1, 2, 1.5, 2]);
    expect(() => toChannelMajor(chw, 1, 2, 2, "chw", [1])).toThrow(/Expected 2 channel scales/);
  });
});

describe("computeStats", () => {
  it("computes finite min/max/mean, zero fraction and non-finite count", () => {
    const v = new Float32Array([0, 2, 4, Number.NaN, -1, -3, Number.POSITIVE_INFINITY, 0]);
    const s = computeStats(v, 2, 4);
    expect(s.min).toEqual([0, -3]);
    expect(s.max).toEqual([4, 0]);
    expect(s.mean[0]).toBeCloseTo(2);
    expect(s.mean[1]).toBeCloseTo(-4 / 3);
    expect(s.zero_fraction).toEqual([0.25, 0.25]);
    expect(s.nonfinite_count).toEqual([1, 1]);
    expect(layerRange(s)).toEqual({ lo: -3, hi: 4 });
  });
  it("gives zeros for all-NaN and all-zero filters", () => {
    const s = computeStats(new Float32Array([Number.NaN, Number.NaN, 0, 0]), 2, 2);
    expect([s.min, s.max, s.mean]).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(s.zero_fraction).toEqual([0, 1]);
    expect(layerRange(computeStats(new Float32Array(0), 0, 4))).toEqual({ lo: 0, hi: 0 });
  });
});

describe("non-finite numbers in trace messages", () => {
  it("turns the kernel's NaN/Infinity strings back into numbers, names untouched", () => {
    const msg = {
      type: "trace",
      layer: "NaN",
      steps: [{ layer: "Infinity", kind: "conv", value: "NaN", window: { row0: 0 } }],
      conv: {
        bias: "-Infinity",
        total: 1,
        terms: [{ contribution: "Infinity", window: [["NaN", 1]] }],
      },
    };
    const t = reviveNumbers(msg) as TraceMsg & { conv: { terms: { window: number[][] }[] } };
    expect(t.layer).toBe("NaN");
    expect(t.steps[0]?.layer).toBe("Infinity");
    expect(t.steps[0]?.value).toBeNaN();
    expect(t.conv?.bias).toBe(Number.NEGATIVE_INFINITY);
    expect(t.conv?.terms[0]?.contribution).toBe(Number.POSITIVE_INFINITY);
    expect(t.conv?.terms[0]?.window[0]?.[0]).toBeNaN();
  });
});
