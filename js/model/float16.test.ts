import { describe, expect, it } from "vitest";
import { decodeFloat16, decodeFloat32, halfToFloat } from "./float16";

/** Encodes float16 bit patterns little-endian into bytes starting at `pad`. */
function bytes(halves: number[], pad = 0): Uint8Array {
  const b = new Uint8Array(pad + halves.length * 2);
  halves.forEach((h, i) => {
    b[pad + i * 2] = h & 0xff;
    b[pad + i * 2 + 1] = h >> 8;
  });
  return b;
}

describe("halfToFloat", () => {
  it("decodes normal, subnormal, zero and special values", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.33325, 5);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x0000)).toBe(0);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(halfToFloat(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });
});

describe("decodeFloat16", () => {
  const halves = [0x3c00, 0xc000, 0x7c00, 0x7e00, 0x0001];
  const expected = [1, -2, Number.POSITIVE_INFINITY, Number.NaN, 2 ** -24];
  it("decodes an aligned buffer", () => {
    expect([...decodeFloat16(bytes(halves))]).toEqual(expected);
  });
  it("decodes at an odd byte offset", () => {
    const b = bytes(halves, 1);
    const view = new DataView(b.buffer, 1, halves.length * 2);
    expect([...decodeFloat16(view)]).toEqual(expected);
  });
  it("rejects odd byte counts", () => {
    expect(() => decodeFloat16(new Uint8Array(3))).toThrow(/even number/);
  });
  it("round-trips every finite half through float32", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = decodeFloat16(new Uint8Array(all.buffer));
    for (let i = 0; i < 65536; i += 97) {
      const v = halfToFloat(i);
      if (Number.isNaN(v)) expect(out[i]).toBeNaN();
      else expect(out[i]).toBe(v);
    }
  });
});

describe("decodeFloat32", () => {
  it("decodes little-endian floats at any offset", () => {
    const b = new Uint8Array(9);
    const dv = new DataView(b.buffer, 1, 8);
    dv.setFloat32(0, 1.5, true);
    dv.setFloat32(4, -3, true);
    expect([...decodeFloat32(dv)]).toEqual([1.5, -3]);
  });
});
