import { describe, expect, it } from "vitest";
import { convRows, stepIsPre } from "./trace";

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
    expect(rows.map((r) => r.label)).toEqual(["channel 2", "channel 0", "other channels", "bias"]);
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
      ["channel 1", 0.75],
      ["2 other channels", 0.25],
      ["bias", 0],
    ]);
    expect(py[0]?.kernel).toEqual([[0.75]]);
    const exact = convRows({
      layer: "c",
      bias: 1,
      total: 3,
      terms: [{ channel: 0, contribution: 2 }],
    });
    expect(exact.map((r) => r.label)).toEqual(["channel 0", "bias"]);
  });
});
