import { describe, expect, it } from "vitest";
import { namedLut } from "../colormap";
import type { LayerSpec } from "../types";
import { convRows, inputLayerName, sharedStyle, stepIsPre } from "./trace";

describe("trace helpers", () => {
  it("detects pre-activation steps", () => {
    const steps = [
      { layer: "c", kind: "conv", filter: 0, row: 0, col: 0, value: -1 },
      { layer: "c", kind: "activation", filter: 0, row: 0, col: 0, value: 0 },
      { layer: "p", kind: "pooling", filter: 0, row: 0, col: 0, value: 0, pre_activation: false },
    ];
    expect([0, 1, 2, 3].map((i) => stepIsPre(steps, i))).toEqual([true, false, false, false]);
  });
  it("adds the remainder of truncated terms so the rows sum to the total", () => {
    const rows = convRows({
      layer: "c",
      bias: 0.5,
      total: 3,
      terms: [
        { channel: 2, contribution: 2 },
        { channel: 0, contribution: -1 },
      ],
    });
    expect(rows.map((r) => r.label)).toEqual(["map 2", "map 0", "other maps", "bias"]);
    expect(rows.reduce((a, r) => a + r.value, 0)).toBeCloseTo(3);
    const py = convRows({
      layer: "c",
      bias: 0,
      total: 1,
      terms: [{ channel: 1, contribution: 0.75, window: [[1]], kernel: [[0.75]] }],
      others: 0.25,
      n_channels: 3,
    });
    expect(py.map((r) => [r.label, r.value])).toEqual([
      ["map 1", 0.75],
      ["2 other maps", 0.25],
      ["bias", 0],
    ]);
    expect(py[0]?.kernel).toEqual([[0.75]]);
    const exact = convRows({
      layer: "c",
      bias: 1,
      total: 3,
      terms: [{ channel: 0, contribution: 2 }],
    });
    expect(exact.map((r) => r.label)).toEqual(["map 0", "bias"]);
  });
  it("names each term by the input layer's map", () => {
    const conv = { layer: "conv2", bias: 0, total: 1, terms: [{ channel: 6, contribution: 1 }] };
    expect(convRows(conv, "pool1").map((r) => r.label)).toEqual(["pool1 · map 6", "bias"]);
    expect(convRows(conv, null)[0]?.label).toBe("map 6");
  });
});

describe("inputLayerName", () => {
  const spec = (index: number, name: string, inputs: unknown): LayerSpec =>
    ({ index, name, inputs }) as unknown as LayerSpec;
  const layers = [spec(0, "input", []), spec(1, "pool1", [0]), spec(2, "conv2", [1])];
  it("follows the first input index to its name", () => {
    expect(inputLayerName(layers, "conv2")).toBe("pool1");
    expect(inputLayerName(layers, "pool1")).toBe("input");
  });
  it("is null for unknown layers, no inputs or malformed indices", () => {
    expect(inputLayerName(layers, "input")).toBeNull();
    expect(inputLayerName(layers, "nope")).toBeNull();
    expect(inputLayerName([spec(0, "c", ["0"])], "c")).toBeNull();
    expect(inputLayerName([spec(0, "c", null)], "c")).toBeNull();
    expect(inputLayerName([spec(0, "c", [7])], "c")).toBeNull();
  });
});

describe("sharedStyle", () => {
  it("one magnitude for the whole chain, diverging when any step is", () => {
    const div = namedLut("RdBu");
    const seq = namedLut("RdBu+");
    const s = sharedStyle([
      { range: { lo: -3, hi: 3, diverging: true }, lut: div },
      { range: { lo: 0, hi: 8, diverging: false }, lut: seq },
    ]);
    expect(s.range).toEqual({ lo: -8, hi: 8, diverging: true });
    expect(s.lut).toBe(div);
    const only = sharedStyle([{ range: { lo: 0, hi: 2, diverging: false }, lut: seq }]);
    expect(only.range).toEqual({ lo: 0, hi: 2, diverging: false });
  });
});
