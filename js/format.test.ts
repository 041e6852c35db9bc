import { describe, expect, it } from "vitest";
import { fmt3, fmtPercent, fmtShape, pathParts } from "./format";

describe("fmt3", () => {
  it.each([
    [0, "0"],
    [-0, "0"],
    [1, "1"],
    [1.23456, "1.23"],
    [0.5, "0.5"],
    [-0.01234, "−0.0123"],
    [123.456, "123"],
    [999.6, "1000"],
    [1234.5, "1230"],
    [12345, "1.23e4"],
    [0.000123, "1.23e-4"],
    [-2e-7, "−2e-7"],
    [65504, "6.55e4"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "∞"],
    [Number.NEGATIVE_INFINITY, "−∞"],
  ])("%s → %s", (v, s) => {
    expect(fmt3(v)).toBe(s);
  });
});

describe("fmtShape / fmtPercent / pathParts", () => {
  it("formats Keras shapes with a batch axis", () => {
    expect(fmtShape([28, 28, 8])).toBe("(None, 28, 28, 8)");
    expect(fmtShape([null, 10])).toBe("(None, None, 10)");
  });
  it("formats fractions", () => {
    expect(fmtPercent(0.4567)).toBe("45.7%");
    expect(fmtPercent(1)).toBe("100%");
    expect(fmtPercent(Number.NaN)).toBe("–");
  });
  it("splits nested paths", () => {
    expect(pathParts("block1/conv1")).toEqual({ prefix: "block1/", leaf: "conv1" });
    expect(pathParts("conv")).toEqual({ prefix: "", leaf: "conv" });
    expect(pathParts("a/b/<script>")).toEqual({ prefix: "a/b/", leaf: "<script>" });
  });
});
