import { describe, expect, it } from "vitest";
import { imageRange } from "./input";

describe("imageRange", () => {
  it("keeps [0,1] and 8-bit images in their natural range, stretches the rest", () => {
    expect(imageRange(0, 0.8)).toEqual([0, 1]);
    expect(imageRange(3, 240)).toEqual([0, 255]);
    expect(imageRange(0, 1.25)).toEqual([0, 1.25]);
    expect(imageRange(-2.1, 2.6)).toEqual([-2.1, 2.6]);
    expect(imageRange(5, 5)).toEqual([5, 6]);
  });
});
