import { describe, expect, it } from "vitest";
import type { ConvArithmetic, TraceStep } from "../types";
import { activationAfter, convFrames, MAX_SCAN, poolFrames, slidePath, tapsAt } from "./frames";

const conv: ConvArithmetic = {
  layer: "c",
  filter: 1,
  bias: 0.5,
  total: 0.5 + 2 - 1 + 0.25,
  terms: [
    { channel: 3, contribution: 2 },
    { channel: 0, contribution: -1 },
  ],
  others: 0.25,
  n_channels: 4,
};

const step = (o: Partial<TraceStep>): TraceStep => ({
  layer: "c",
  kind: "conv",
  filter: 1,
  row: 0,
  col: 0,
  value: 0,
  ...o,
});

describe("convFrames", () => {
  it("adds the terms, the other maps and the bias up to the total", () => {
    const f = convFrames(conv);
    expect(f.map((x) => x.kind)).toEqual(["term", "term", "others", "bias"]);
    expect(f.map((x) => x.partial)).toEqual([2, 1, 1.25, 1.75]);
    expect(f.at(-1)?.partial).toBe(conv.total);
    expect(f[0]?.channel).toBe(3);
    expect(f[2]?.label).toContain("2 other maps");
  });

  it("ends on the activation's output when the chain has one", () => {
    const steps = [
      step({ pre_activation: true, value: 1.75 }),
      step({ kind: "activation", activation: "relu", value: 1.75 }),
    ];
    const act = activationAfter(steps, conv);
    expect(act).toBe(steps[1]);
    const f = convFrames({ ...conv, bias: -3, total: -1.75 }, { ...act, value: 0 } as TraceStep);
    expect(f.at(-2)?.partial).toBe(-1.75);
    expect(f.at(-1)).toMatchObject({ kind: "activation", partial: 0, label: "relu(-1.75)" });
  });

  it("has no 'others' frame when every map is shown", () => {
    const f = convFrames({ ...conv, n_channels: 2, others: 0, total: 1.5 });
    expect(f.map((x) => x.kind)).toEqual(["term", "term", "bias"]);
  });
});

describe("poolFrames", () => {
  const pool = step({
    layer: "p",
    kind: "pooling",
    value: 7,
    window: { row0: 2, row1: 4, col0: 4, col1: 6 },
    argmax: { row: 3, col: 4 },
  });
  const map: Record<string, number> = { "2,4": 1, "2,5": 5, "3,4": 7, "3,5": 7 };
  it("scans the window row by row with the max so far, then the winner", () => {
    const f = poolFrames(pool, (r, c) => map[`${r},${c}`] ?? Number.NaN);
    expect(f.map((x) => x.partial)).toEqual([1, 5, 7, 7, 7]);
    expect(f.map((x) => x.kind)).toEqual(["scan", "scan", "scan", "scan", "winner"]);
    expect(f.at(-1)?.cell).toEqual({ row: 3, col: 4 });
    expect(f[3]?.label).toContain("not larger"); // a tie keeps the first (Keras's winner)
  });
  it("skips the scan of a huge window", () => {
    const big = { ...pool, window: { row0: 0, row1: 8, col0: 0, col1: 8 } };
    expect(64).toBeGreaterThan(MAX_SCAN);
    expect(poolFrames(big, () => 0).map((x) => x.kind)).toEqual(["winner"]);
  });
  it("is empty for average pooling (no argmax)", () => {
    expect(poolFrames({ ...pool, argmax: undefined }, () => 0)).toEqual([]);
  });
});

describe("sliding window", () => {
  const slid: ConvArithmetic = {
    ...conv,
    taps: { rows: [-1, 1, 3], cols: [2, 4, 6] },
    origin: [-1, 2],
    strides: [2, 1],
    dilation: [2, 2],
    output: [5, 6],
  };
  it("starts with a slide frame when the window can be placed", () => {
    const f = convFrames(slid, null, { row: 0, col: 2 });
    expect(f[0]).toMatchObject({ kind: "slide", partial: 0, cell: { row: 0, col: 2 } });
    expect(convFrames(conv, null, { row: 0, col: 2 })[0]?.kind).toBe("term");
  });
  it("moves the traced cell's taps by stride, keeping the dilation", () => {
    expect(tapsAt(slid, { row: 0, col: 2 }, { row: 0, col: 2 })).toEqual({
      rows: [-1, 1, 3],
      cols: [2, 4, 6],
    });
    expect(tapsAt(slid, { row: 0, col: 2 }, { row: 2, col: 0 })).toEqual({
      rows: [3, 5, 7],
      cols: [0, 2, 4],
    });
  });
  it("walks down the first column, then along the row, at most n cells", () => {
    expect(slidePath({ row: 2, col: 1 })).toEqual([
      { row: 0, col: 0 },
      { row: 1, col: 0 },
      { row: 2, col: 0 },
      { row: 2, col: 1 },
    ]);
    const long = slidePath({ row: 100, col: 100 }, 24);
    expect(long).toHaveLength(24);
    expect(long[0]).toEqual({ row: 0, col: 0 });
    expect(long.at(-1)).toEqual({ row: 100, col: 100 });
  });
});

describe("time series (1-D) wording", () => {
  const slid1d: ConvArithmetic = {
    ...conv,
    taps: { rows: [0], cols: [4, 6, 8] },
    origin: [0, 4],
    strides: [1, 1],
    dilation: [1, 2],
    output: [1, 30],
  };
  it("names a conv cell 'step t', with no row", () => {
    const f = convFrames(slid1d, null, { row: 0, col: 4 }, true);
    expect(f[0]?.kind).toBe("slide");
    expect(f[0]?.label).toContain("to step 4");
    expect(f[0]?.label).toContain("time axis");
    expect(f[0]?.label).not.toContain("(0,");
    // 2-D keeps (row, col)
    expect(convFrames(slid1d, null, { row: 0, col: 4 })[0]?.label).toContain("(0, 4)");
  });
  it("names a pool window's steps and its winner 'step t'", () => {
    const pool = step({
      layer: "p",
      kind: "pooling",
      value: 3,
      window: { row0: 0, row1: 1, col0: 10, col1: 12 },
      argmax: { row: 0, col: 11 },
    });
    const vals: Record<number, number> = { 10: 1, 11: 3 };
    const f = poolFrames(pool, (_r, c) => vals[c] ?? Number.NaN, true);
    expect(f.map((x) => x.label)).toEqual([
      "step 10 is the largest so far",
      "step 11 is the largest so far",
      "max = step 11: it becomes the pooled value",
    ]);
    expect(poolFrames(pool, (_r, c) => vals[c] ?? Number.NaN)[2]?.label).toContain("(0, 11)");
  });
});
