import { describe, expect, it } from "vitest";
import type { LayerSpec } from "../types";
import { fromBase64 } from "./manifest";
import { holdersOf, type PoolTable, poolSource, type TraceContext, traceCell } from "./trace";

// A 4×5 map pooled by 2×2, stride 2, "same" padding: 2×3 pooled cells, the last column clipped.
const pool: PoolTable = {
  rows: [
    [0, 2],
    [2, 4],
  ],
  cols: [
    [0, 2],
    [2, 4],
    [4, 5],
  ],
  // channel 0 only: winner index inside each (clipped) window, row-major
  argmax: [3, 0, 1, 2, 1, 0],
};

function spec(
  index: number,
  name: string,
  kind: string,
  h: number,
  w: number,
  inputs: number[],
): LayerSpec {
  const rows: [number, number][] = Array.from({ length: h }, (_, r) => [r, r + 1]);
  const cols: [number, number][] = Array.from({ length: w }, (_, c) => [c, c + 1]);
  return {
    index,
    name,
    kind,
    class_name: kind,
    shape: [h, w, 1],
    spatial: true,
    height: h,
    width: w,
    channels: 1,
    signed: false,
    inputs,
    fused_activation: kind === "conv" ? "relu" : null,
    receptive_field: { rows, cols },
  };
}

describe("static trace tables", () => {
  it("maps a winner index inside a clipped window back to its cell", () => {
    expect(poolSource(pool, [0, 0], 0)).toEqual([1, 1]);
    expect(poolSource(pool, [0, 2], 0)).toEqual([1, 4]); // window 2×1: index 1 is row 1
    expect(poolSource(pool, [1, 2], 0)).toEqual([2, 4]);
    expect(poolSource({ ...pool, argmax: null }, [0, 0], 0)).toBeNull();
  });
  it("lists the windows holding a cell in row-major order", () => {
    expect(holdersOf(pool, [1, 1])).toEqual([[0, 0]]);
    expect(holdersOf(pool, [3, 4])).toEqual([[1, 2]]);
    expect(holdersOf(pool, [9, 9])).toEqual([]);
    const overlapping: PoolTable = {
      ...pool,
      rows: [
        [0, 3],
        [2, 4],
      ],
    };
    expect(holdersOf(overlapping, [2, 2])).toEqual([
      [0, 1],
      [1, 1],
    ]);
  });
  it("builds conv (pre-activation) → activation → pooling, reading values per step", () => {
    const layers = [
      spec(0, "in", "input", 4, 5, []),
      spec(1, "c", "conv", 4, 5, [0]),
      spec(2, "p", "pooling", 2, 3, [1]),
    ];
    const reads: string[] = [];
    const t = traceCell(
      {
        layers,
        rank: () => 2,
        pools: new Map([["p", pool]]),
        value: (layer, pre, _f, r, c) => {
          reads.push(`${layer}${pre ? "*" : ""}@${r},${c}`);
          return r * 10 + c;
        },
      },
      { layer: "p", filter: 0, row: 0, col: 2 },
    );
    expect(t.steps.map((s) => [s.layer, s.kind, s.row, s.col])).toEqual([
      ["c", "conv", 1, 4],
      ["c", "activation", 1, 4],
      ["p", "pooling", 0, 2],
    ]);
    expect(t.steps[2]?.window).toEqual({ row0: 0, row1: 2, col0: 4, col1: 5 });
    expect(t.steps[2]?.argmax).toEqual({ row: 1, col: 4 });
    expect(reads).toEqual(["c*@1,4", "c@1,4", "p@0,2", "p@0,2"]); // the last: the clicked cell
    expect(() =>
      traceCell(
        { layers, rank: () => 2, pools: new Map(), value: () => 0 },
        { layer: "p", filter: 1, row: 0, col: 0 },
      ),
    ).toThrow("filter in range(0, 1)");
  });
  it("follows the winner when the clicked cell lost its window, and says so", () => {
    const layers = [
      spec(0, "in", "input", 4, 5, []),
      spec(1, "c", "conv", 4, 5, [0]),
      spec(2, "p", "pooling", 2, 3, [1]),
    ];
    const ctx = (p: PoolTable): TraceContext => ({
      layers,
      rank: () => 2,
      pools: new Map([["p", p]]),
      value: (_l, pre, _f, r, c) => (pre ? -1 : 1) * (r * 10 + c),
    });
    // (0, 0) is in the window of pooled cell (0, 0), whose max came from (1, 1)
    const t = traceCell(ctx(pool), { layer: "c", filter: 0, row: 0, col: 0 });
    expect(t.steps.map((s) => [s.layer, s.kind, s.row, s.col, s.value])).toEqual([
      ["c", "conv", 1, 1, -11],
      ["c", "activation", 1, 1, 11],
      ["p", "pooling", 0, 0, 0],
    ]);
    expect(t.clicked).toEqual({ layer: "c", filter: 0, row: 0, col: 0, value: 0 });
    expect(t.receptive_field).toEqual({ row0: 0, row1: 1, col0: 0, col1: 1 });
    expect(t.note).toBe(
      "You clicked (0, 0) of c; the max of its p window came from (1, 1), so the steps before p show (1, 1), the cell that fed the pooled value.",
    );
    // with the tie bit of (0, 0) set (its float32 value equals the winner's), the words say so
    const bits = new Uint8Array(3);
    bits[0] = 1;
    const tied = traceCell(ctx({ ...pool, ties: { bits, height: 4, width: 5 } }), {
      layer: "c",
      filter: 0,
      row: 0,
      col: 0,
    });
    expect(tied.note).toContain(
      "(0, 0) and (1, 1) hold the same value: ties go to the first cell in row-major order.",
    );
    // the winner itself: no words needed
    const won = traceCell(ctx(pool), { layer: "c", filter: 0, row: 1, col: 1 });
    expect(won.note).toBeNull();
    expect(won.steps.map((s) => [s.row, s.col])).toEqual([
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    // average pooling: the chain stays at the clicked cell
    const avg = traceCell(ctx({ ...pool, argmax: null }), {
      layer: "c",
      filter: 0,
      row: 0,
      col: 0,
    });
    expect(avg.steps.map((s) => [s.row, s.col])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(avg.note).toBe(
      "p averages its window: pooled cell (0, 0) is the mean of all the cells in it, not the value of one cell.",
    );
    // a cell no window holds
    const narrow: PoolTable = {
      ...pool,
      cols: [
        [0, 2],
        [2, 4],
      ],
      argmax: [3, 0, 1, 2],
    };
    const none = traceCell(ctx(narrow), { layer: "c", filter: 0, row: 2, col: 4 });
    expect(none.steps.map((s) => s.kind)).toEqual(["conv", "activation"]);
    expect(none.note).toBe(
      "You clicked (2, 4) of c; no window of p holds it, so nothing was pooled from it.",
    );
  });
  it("decodes base64 payloads", () => {
    expect([...fromBase64("AAEC/w==")]).toEqual([0, 1, 2, 255]);
  });
});
