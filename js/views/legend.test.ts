import { describe, expect, it } from "vitest";
import { legendTicks } from "./legend";

describe("legendTicks", () => {
  it("labels a sequential range by its ends", () => {
    expect(legendTicks({ lo: 0, hi: 8.0812, diverging: false })).toEqual({
      lo: 0,
      hi: 8.0812,
      labels: ["0", "8.08"],
    });
  });
  it("makes a diverging range symmetric around 0, with 0 in the middle", () => {
    expect(legendTicks({ lo: -1.5, hi: 3, diverging: true })).toEqual({
      lo: -3,
      hi: 3,
      labels: ["−3", "0", "3"],
    });
  });
});
