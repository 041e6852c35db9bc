import { describe, expect, it } from "vitest";
import { fmt3, fmtPercent, fmtShape, pathParts, shapeLabel } from "./format";

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

describe("shapeLabel", () => {
  const spec = (over: Record<string, unknown>) =>
    ({
      index: 1,
      name: "c",
      kind: "conv",
      class_name: "Conv2D",
      shape: [24, 24, 8],
      spatial: true,
      height: 24,
      width: 24,
      channels: 8,
      signed: false,
      inputs: [0],
      fused_activation: null,
      ...over,
    }) as Parameters<typeof shapeLabel>[0];
  it("says rows×cols×channels, a vector's length, a 1D map's steps", () => {
    expect(shapeLabel(spec({}))).toBe("24×24×8");
    expect(shapeLabel(spec({ shape: [8, 12, 10], height: 12, width: 10 }))).toBe("12×10×8");
    expect(shapeLabel(spec({ shape: [576], spatial: false, channels: null }))).toBe("576");
    expect(shapeLabel(spec({ shape: [100, 3], height: 100, width: 1, channels: 3 }))).toBe("100×3");
    expect(shapeLabel(spec({ shape: [], spatial: false, channels: null }))).toBe("?");
  });
});

describe("shapeLabel of time series and volumes", () => {
  it("says the time steps of a 1-D layer and the depth of a 3-D one", () => {
    const base = { spatial: true, channels: 4 } as const;
    const spec = (o: object) => ({ ...base, ...o }) as Parameters<typeof shapeLabel>[0];
    expect(shapeLabel(spec({ shape: [40, 4], height: 1, width: 40 }))).toBe("40×4");
    expect(shapeLabel(spec({ shape: [6, 8, 9, 4], depth: 6, height: 8, width: 9 }))).toBe(
      "6×8×9×4",
    );
  });
});
