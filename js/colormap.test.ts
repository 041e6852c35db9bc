import { describe, expect, it } from "vitest";
import {
  BAD_COLOR,
  buildLut,
  LUT_SIZE,
  lutIndex,
  mapArray,
  mapToRgba,
  namedLut,
  parseColor,
  rangeToAffine,
} from "./colormap";

describe("parseColor", () => {
  it("reads hex and rgb() forms", () => {
    expect(parseColor("#440154")).toEqual([0x44, 0x01, 0x54]);
    expect(parseColor("rgb(5, 48, 97)")).toEqual([5, 48, 97]);
  });
  it("rejects other text", () => {
    expect(() => parseColor("red")).toThrow(/Expected a colour/);
  });
});

describe("buildLut", () => {
  it("samples 256 opaque entries from a library interpolator", () => {
    const lut = namedLut("viridis");
    expect(lut.length).toBe(LUT_SIZE * 4);
    // viridis starts dark purple and ends yellow
    expect(lut[0]).toBeLessThan(80);
    expect(lut[2]).toBeGreaterThan(60);
    expect(lut[255 * 4]).toBeGreaterThan(200);
    expect(lut[255 * 4 + 1]).toBeGreaterThan(200);
    for (let i = 0; i < LUT_SIZE; i++) expect(lut[i * 4 + 3]).toBe(255);
  });
  it("orients RdBu blue for negative, red for positive, near-white centre", () => {
    const lut = namedLut("RdBu");
    expect(lut[2]).toBeGreaterThan(lut[0] as number); // low end blue
    expect(lut[255 * 4]).toBeGreaterThan(lut[255 * 4 + 2] as number); // high end red
    const mid = 128 * 4;
    expect(
      Math.min(lut[mid] as number, lut[mid + 1] as number, lut[mid + 2] as number),
    ).toBeGreaterThan(220);
  });
  it("builds from any interpolator", () => {
    const lut = buildLut((t) => `rgb(${Math.round(t * 255)}, 0, 0)`);
    expect(lut[0]).toBe(0);
    expect(lut[255 * 4]).toBe(255);
  });
  it("rejects unknown names", () => {
    expect(() => namedLut("jet")).toThrow(/received "jet"/);
  });
});

describe("ranges", () => {
  it("sequential maps lo to first and hi to last entry", () => {
    const { scale, offset } = rangeToAffine({ lo: 2, hi: 4, diverging: false });
    expect(lutIndex(2, scale, offset)).toBe(0);
    expect(lutIndex(4, scale, offset)).toBe(255);
    expect(lutIndex(3, scale, offset)).toBe(128);
    expect(lutIndex(-10, scale, offset)).toBe(0);
    expect(lutIndex(10, scale, offset)).toBe(255);
  });
  it("diverging is symmetric about zero", () => {
    const { scale, offset } = rangeToAffine({ lo: -1, hi: 4, diverging: true });
    expect(lutIndex(0, scale, offset)).toBe(128);
    expect(lutIndex(-4, scale, offset)).toBe(0);
    expect(lutIndex(4, scale, offset)).toBe(255);
    expect(lutIndex(2, scale, offset)).toBe(192);
  });
  it("degenerate ranges do not divide by zero", () => {
    let a = rangeToAffine({ lo: 1, hi: 1, diverging: false });
    expect(lutIndex(1, a.scale, a.offset)).toBe(0);
    a = rangeToAffine({ lo: 0, hi: 0, diverging: true });
    expect(lutIndex(0, a.scale, a.offset)).toBe(128);
    a = rangeToAffine({ lo: Number.NaN, hi: Number.NaN, diverging: false });
    expect(lutIndex(0, a.scale, a.offset)).toBe(0);
  });
  it("NaN and infinities have no index", () => {
    expect(lutIndex(Number.NaN, 1, 0)).toBe(-1);
    expect(lutIndex(Number.POSITIVE_INFINITY, 1, 0)).toBe(-1);
    expect(lutIndex(Number.NEGATIVE_INFINITY, 1, 0)).toBe(-1);
  });
});

describe("mapToRgba", () => {
  const lut = buildLut((t) => `rgb(${Math.floor(t * 256)}, 7, 9)`);
  it("maps values and paints non-finite ones in the bad colour", () => {
    const src = new Float32Array([0, 1, Number.NaN, Number.POSITIVE_INFINITY]);
    const rgba = mapArray(src, 2, 2, { lo: 0, hi: 1, diverging: false }, lut);
    expect([...rgba.slice(0, 4)]).toEqual([0, 7, 9, 255]);
    expect([...rgba.slice(4, 8)]).toEqual([255, 7, 9, 255]);
    expect([...rgba.slice(8, 12)]).toEqual([...BAD_COLOR]);
    expect([...rgba.slice(12, 16)]).toEqual([...BAD_COLOR]);
  });
  it("writes an upscaled block at an offset with a stride", () => {
    const W = 5;
    const out = new Uint8ClampedArray(W * 4 * 4);
    const src = new Float32Array([9, 0, 1]); // map starts at srcOffset 1: [0, 1] as 2x1
    mapToRgba(src, 1, 2, 1, { lo: 0, hi: 1, diverging: false }, lut, {
      out,
      offset: (1 * W + 1) * 4,
      stride: W * 4,
      scale: 2,
    });
    const px = (x: number, y: number) => out[(y * W + x) * 4];
    const alpha = (x: number, y: number) => out[(y * W + x) * 4 + 3];
    expect(alpha(0, 0)).toBe(0);
    expect([px(1, 1), px(2, 1), px(1, 2), px(2, 2)]).toEqual([0, 0, 0, 0]);
    expect([alpha(1, 1), alpha(2, 2)]).toEqual([255, 255]);
    expect([px(3, 1), px(4, 1), px(3, 2), px(4, 2)]).toEqual([255, 255, 255, 255]);
    expect(alpha(1, 3)).toBe(0);
  });
});

describe("one colour story", () => {
  it("gives a non-negative value the same colour on [0, m] as on the diverging [−m, m]", () => {
    const div = namedLut("RdBu");
    const pos = namedLut("RdBu+");
    const m = 3.7;
    const values = Float32Array.from({ length: 2001 }, (_, i) => (i / 2000) * m * 1.1);
    const a = mapArray(values, values.length, 1, { lo: -m, hi: m, diverging: true }, div);
    const b = mapArray(values, values.length, 1, { lo: 0, hi: m, diverging: false }, pos);
    expect(Array.from(b)).toEqual(Array.from(a));
  });
  it("starts the positive half at the diverging centre and ends at its red end", () => {
    const div = namedLut("RdBu");
    const pos = namedLut("RdBu+");
    expect(Array.from(pos.subarray(0, 4))).toEqual(Array.from(div.subarray(128 * 4, 129 * 4)));
    expect(Array.from(pos.subarray(255 * 4))).toEqual(Array.from(div.subarray(255 * 4)));
  });
});
