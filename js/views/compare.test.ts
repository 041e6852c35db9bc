import { describe, expect, it } from "vitest";
import { fmtChange, type LayerChange, poolingNotes } from "./compare";

const row = (layer: string, kind: string, change: number | null): LayerChange => ({
  layer,
  kind,
  shape: [4, 4, 2],
  change,
});

describe("compare", () => {
  it("formats relative changes as percentages", () => {
    expect(fmtChange(0.3194)).toBe("31.9%");
    expect(fmtChange(1)).toBe("100%");
    expect(fmtChange(null)).toBe("∞");
  });
  it("says whether each pooling layer changes less than the layer it pools", () => {
    const notes = poolingNotes([
      row("input", "input", 0.5),
      row("c1", "conv", 0.3),
      row("p1", "pooling", 0.2),
      row("c2", "conv", 0.1),
      row("p2", "pooling", 0.15),
    ]);
    expect(notes).toEqual([
      "p1 changes less than c1 (20% vs 30%)",
      "p2 changes not less than c2 (15% vs 10%)",
    ]);
  });
});
