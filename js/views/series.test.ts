import { describe, expect, it } from "vitest";
import type { LayerSpec } from "../types";
import { MAX_LINES, plotSize, plotY, rankOf, seriesLength } from "./series";

const spec = (over: Partial<LayerSpec>): LayerSpec => ({
  index: 0,
  name: "x",
  kind: "input",
  class_name: "InputLayer",
  shape: [],
  spatial: true,
  height: 1,
  width: 40,
  channels: 2,
  signed: false,
  inputs: [],
  fused_activation: null,
  ...over,
});

describe("rankOf / seriesLength", () => {
  it("reads the spec's rank (2 for older specs with maps, 0 for vectors)", () => {
    expect(rankOf(spec({ rank: 1 }))).toBe(1);
    expect(rankOf(spec({}))).toBe(2);
    expect(rankOf(spec({ spatial: false }))).toBe(0);
    expect(rankOf(null)).toBe(2);
  });
  it("gives the input's time steps only for a 1-D input", () => {
    expect(seriesLength([spec({ rank: 1 }), spec({ kind: "conv", rank: 1, width: 36 })])).toBe(40);
    expect(seriesLength([spec({ rank: 2, height: 40 })])).toBeUndefined();
  });
});

describe("plotSize / plotY", () => {
  it("lines: integer px per step, a plot half as tall as wide", () => {
    expect(plotSize(40, 2, 224)).toEqual({ k: 5, width: 200, height: 100, rowH: 0 });
    expect(plotSize(1000, 1, 224).k).toBe(1);
  });
  it("many channels: one row per channel", () => {
    const s = plotSize(100, MAX_LINES + 4, 224);
    expect(s.rowH).toBeGreaterThan(0);
    expect(s.height).toBe(s.rowH * (MAX_LINES + 4));
  });
  it("maps the range to the plot's height inside 2 px margins", () => {
    expect(plotY(1, -1, 1, 104)).toBe(2);
    expect(plotY(-1, -1, 1, 104)).toBe(102);
    expect(plotY(0, -1, 1, 104)).toBe(52);
  });
});
