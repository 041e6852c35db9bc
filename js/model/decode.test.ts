import { describe, expect, it } from "vitest";
import { nonzeroBits, nonzeroBytes } from "../testing/fake-model";
import type { LayerDataMsg, TraceMsg } from "../types";
import {
  computeStats,
  decodeValues,
  layerRange,
  placePart,
  reviveNumbers,
  toChannelMajor,
  unpackNonzero,
} from "./decode";
import { halfToFloat } from "./float16";

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

describe("float16_nonzero (nonzero mask + nonzero values)", () => {
  it("round-trips every float16 bit pattern, -0.0 and NaN included", () => {
    const patterns = new Uint16Array(3 * 65536);
    for (let p = 0; p < 65536; p++) patterns[3 * p] = p; // two +0.0 after each pattern
    const { buffer, nonzero } = nonzeroBits(patterns);
    expect(nonzero).toBe(65535);
    const got = unpackNonzero(buffer, patterns.length, nonzero);
    let bad = 0;
    for (let i = 0; i < patterns.length; i++) {
      const want = halfToFloat(patterns[i] as number);
      const v = got[i] as number;
      if (!(Object.is(v, want) || (Number.isNaN(v) && Number.isNaN(want)))) bad++;
    }
    expect(bad).toBe(0);
    expect(Object.is(got[3 * 0x8000], -0)).toBe(true);
  });

  it("reads buffers at odd byte offsets (as Jupyter may hand them over)", () => {
    const { buffer, nonzero } = nonzeroBytes([0, 1.5, 0, 0, -2, 0, 0, 0, 0, 3]);
    const shifted = new Uint8Array(buffer.byteLength + 1);
    shifted.set(new Uint8Array(buffer.buffer), 1);
    const view = new DataView(shifted.buffer, 1, buffer.byteLength);
    expect([...unpackNonzero(view, 10, nonzero)]).toEqual([0, 1.5, 0, 0, -2, 0, 0, 0, 0, 3]);
  });

  it("refuses buffers that do not match their header", () => {
    const { buffer } = nonzeroBytes([0, 1, 0, 0, 2, 0, 0, 0, 0, 3]);
    expect(() => unpackNonzero(buffer, 10, 2)).toThrow(/Expected 12 bytes .* received 14/);
    expect(() => unpackNonzero(buffer, 10, 11)).toThrow(/Expected nonzero in \[0, 10\]/);
    const bits = new Uint8Array(buffer.buffer);
    bits[1] = (bits[1] as number) | 0x80; // a mask bit past the 10th value
    expect(() => unpackNonzero(buffer, 10, 3)).toThrow(/no mask bits past the last value/);
    const few = nonzeroBytes([0, 1, 0, 0, 2, 0, 0, 0]);
    expect(() => unpackNonzero(few.buffer, 8, 2)).not.toThrow();
    new Uint8Array(few.buffer.buffer)[0] = 0x02; // one bit set, two values sent
    expect(() => unpackNonzero(few.buffer, 8, 2)).toThrow(/Expected 2 mask bits set, found 1/);
  });

  it("decodes a packed hwc part into channel-major order, scaled", () => {
    // H=1, W=2, C=3: hwc = [c0w0, c1w0, c2w0, c0w1, c1w1, c2w1]
    const { buffer, nonzero } = nonzeroBytes([0, 1, 0, 2, 0, -0.5]);
    const msg = {
      type: "layer_data",
      layer: "conv",
      height: 1,
      width: 2,
      channels: 3,
      layout: "hwc",
      scale: 4,
      encoding: "float16_nonzero",
      nonzero,
    } as LayerDataMsg;
    expect([...decodeValues(msg, buffer)]).toEqual([0, 8, 4, 0, 0, -2]);
    expect(() => decodeValues({ ...msg, nonzero: 1 }, buffer)).toThrow(/"conv", 3×1×2/);
  });

  it("places a packed row range of one channel into the whole layer", () => {
    const values = new Float32Array(2 * 3 * 2).fill(-1);
    const { buffer, nonzero } = nonzeroBytes([0, 5, 6, 0]);
    const msg = {
      layer: "big",
      height: 3,
      width: 2,
      channels: 2,
      encoding: "float16_nonzero",
      nonzero,
      chunk: 1,
      chunks: 4,
      channel_start: 1,
      channel_stop: 2,
      row_start: 1,
      row_stop: 3,
    } as LayerDataMsg;
    placePart(values, msg, buffer);
    expect([...values]).toEqual([-1, -1, -1, -1, -1, -1, -1, -1, 0, 5, 6, 0]);
  });
});
