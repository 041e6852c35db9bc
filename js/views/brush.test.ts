import { describe, expect, it } from "vitest";
import { brushRadius, coverCrop, rgbaToValues, segment, stamp } from "./brush";

describe("brush", () => {
  const shape = { height: 8, width: 8, channels: 1 };

  it("stamps full ink at the centre, none far away, in the value range", () => {
    const v = new Float32Array(64);
    expect(stamp(v, shape, 3.5, 2.5, 1, [0, 255], false)).toBe(true);
    expect(v[2 * 8 + 3]).toBe(255); // the pixel under the point
    expect(v[2 * 8 + 4]).toBe(127.5); // one pixel away: the anti-aliased edge, half ink
    expect(v[7 * 8 + 7]).toBe(0);
    const before = Float32Array.from(v);
    expect(stamp(v, shape, 3.5, 2.5, 1, [0, 255], false)).toBe(false); // already inked
    expect(v).toEqual(before);
  });

  it("erases back to the background and never leaves the image", () => {
    const v = new Float32Array(64).fill(1);
    stamp(v, shape, 0.5, 0.5, 1, [0, 1], true);
    expect(v[0]).toBe(0);
    expect(v.length).toBe(64);
    stamp(v, shape, -5, 20, 2, [0, 1], true); // outside: nothing happens, nothing thrown
  });

  it("paints every channel of a colour image (white ink)", () => {
    const v = new Float32Array(3 * 64);
    stamp(v, { ...shape, channels: 3 }, 4.5, 4.5, 0.7, [-1, 1], false);
    for (let ch = 0; ch < 3; ch++) expect(v[ch * 64 + 4 * 8 + 4]).toBe(1);
  });

  it("sizes the brush for 28x28 and 8x8 inputs", () => {
    expect(brushRadius(28, 28)).toBeCloseTo(1.75);
    expect(brushRadius(8, 8)).toBe(0.7);
  });

  it("walks a segment every half pixel, ending at the end", () => {
    const pts = segment(0, 0, 2, 0);
    expect(pts.length).toBe(4);
    expect(pts.at(-1)).toEqual([2, 0]);
  });

  it("crops to the input's aspect ratio, centred", () => {
    expect(coverCrop(100, 50, 10, 10)).toEqual([25, 0, 50, 50]);
    expect(coverCrop(40, 40, 8, 8)).toEqual([0, 0, 40, 40]);
  });

  it("turns RGBA into luminance or RGB channels in the range", () => {
    const rgba = new Uint8ClampedArray([255, 255, 255, 255, 255, 0, 0, 255]);
    const grey = rgbaToValues(rgba, 1, 2, 1, [0, 1]);
    expect(grey[0]).toBeCloseTo(1);
    expect(grey[1]).toBeCloseTo(0.299);
    const rgb = rgbaToValues(rgba, 1, 2, 3, [0, 255]);
    expect(Array.from(rgb)).toEqual([255, 255, 255, 0, 255, 0]);
  });
});
