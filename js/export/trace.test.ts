import { describe, expect, it } from "vitest";
import type { LayerSpec } from "../types";
import { fromBase64 } from "./manifest";
import { type PoolTable, pooledCell, poolSource, traceCell } from "./trace";

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
  it("finds the pooled cell a source won, else the first window holding it", () => {
    expect(pooledCell(pool, [1, 1], 0)).toEqual([0, 0]);
    expect(pooledCell(pool, [0, 0], 0)).toEqual([0, 0]); // lost, but in that window
    expect(pooledCell(pool, [3, 4], 0)).toEqual([1, 2]);
    expect(pooledCell(pool, [9, 9], 0)).toBeNull();
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
    expect(reads).toEqual(["c*@1,4", "c@1,4", "p@0,2"]);
    expect(() =>
      traceCell(
        { layers, rank: () => 2, pools: new Map(), value: () => 0 },
        { layer: "p", filter: 1, row: 0, col: 0 },
      ),
    ).toThrow("filter in range(0, 1)");
  });
  it("decodes base64 payloads", () => {
    expect([...fromBase64("AAEC/w==")]).toEqual([0, 1, 2, 255]);
  });
});
