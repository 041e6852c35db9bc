// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { namedLut } from "../colormap";
import type { LayerData, TraceMsg } from "../types";
import { poolFrames } from "./frames";
import { stepperFor } from "./stepper";
import { ledgerRows } from "./stepper-draw";

/** A 1-D layer's data: one row of `T` steps per channel. */
function strip(T: number, channels: number): LayerData {
  const values = Float32Array.from({ length: T * channels }, (_, i) => Math.sin(i));
  return {
    layer: "c",
    height: 1,
    width: T,
    channels,
    values,
    layerMin: -1,
    layerMax: 1,
  } as unknown as LayerData;
}

const trace: TraceMsg = {
  steps: [
    { layer: "c", kind: "conv", filter: 1, row: 0, col: 12, value: 0.5 },
    {
      layer: "p",
      kind: "pooling",
      filter: 1,
      row: 0,
      col: 6,
      value: 0.9,
      window: { row0: 0, row1: 1, col0: 12, col1: 14 },
      argmax: { row: 0, col: 13 },
    },
  ],
  conv: {
    layer: "c",
    source: "input",
    filter: 1,
    bias: 0.1,
    total: 0.5,
    terms: [{ channel: 0, contribution: 0.4, window: [[1, 2, 3]], kernel: [[0.1, 0.1, 0.0]] }],
    n_channels: 1,
    taps: { rows: [0], cols: [12, 13, 14] },
    origin: [0, 12],
    strides: [1, 1],
    dilation: [1, 1],
    output: [1, 38],
  },
} as unknown as TraceMsg;

const deps = {
  data: () => Promise.resolve(strip(40, 2)),
  style: () => ({ range: { lo: -1, hi: 1, diverging: true }, lut: namedLut("RdBu") }),
};

describe("Stepper on a time series", () => {
  it("speaks of time steps, never of a row 0", async () => {
    const s = stepperFor(trace, deps, true);
    expect(s).not.toBeNull();
    const el = s?.el as HTMLElement;
    await Promise.resolve();
    await Promise.resolve();
    const text = el.textContent ?? "";
    expect(text).toContain("step 12");
    expect(text).toContain("one output step per window");
    expect(text).not.toContain("(0,");
    expect(el.dataset.series).toBe("true");
    const pool = el.querySelector<HTMLButtonElement>("button[data-mode='pool']");
    pool?.click();
    await new Promise((r) => setTimeout(r, 0));
    const last = el.querySelector<HTMLButtonElement>(".fmw-step-next");
    for (let i = 0; i < 4; i++) last?.click();
    const poolText = el.textContent ?? "";
    expect(poolText).toContain("step 13");
    expect(poolText).not.toContain("(0,");
  });
  it("keeps (row, col) for a 2-D trace", () => {
    const s = stepperFor(trace, deps);
    expect(s?.el.textContent).toContain("(0, 12)");
  });
  it("lists a 1-D pool's frames by step in the ledger", () => {
    const pool = trace.steps?.[1];
    if (!pool) throw new Error("no pool step");
    const frames = poolFrames(pool, (_r, c) => (c === 13 ? 0.9 : 0.2), true);
    const rows = ledgerRows(frames, frames.length - 1, false, "relu", true);
    const cells = rows.slice(1).map((r) => r.firstElementChild?.textContent);
    expect(cells).toEqual(["step 12", "step 13", "step 13 wins"]);
  });
});
