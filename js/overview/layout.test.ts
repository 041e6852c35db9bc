import { describe, expect, it } from "vitest";
import type { LayerSpec } from "../types";
import {
  cellIn,
  cellsRect,
  columnAt,
  isStrip,
  layoutColumns,
  MAX_GAP,
  OV,
  overviewHeight,
  slotAt,
  slotSize,
  thumbRect,
  thumbsThatFit,
  visibleRange,
  volume,
} from "./layout";

function spec(index: number, over: Partial<LayerSpec> = {}): LayerSpec {
  return {
    index,
    name: `l${index}`,
    kind: "conv",
    class_name: "Conv2D",
    shape: [8, 8, 4],
    spatial: true,
    height: 8,
    width: 8,
    channels: 4,
    signed: false,
    inputs: [],
    fused_activation: null,
    ...over,
  };
}

describe("columns", () => {
  const specs = [spec(0), spec(1, { is_op: true }), spec(2, { spatial: false, shape: [10] })];
  const cols = specs.map((s) => ({ layer: s.index, depth: 0 }));
  it("sizes maps, operations and boxes; spreads few columns over the width", () => {
    const tight = layoutColumns(cols, specs);
    expect(tight.boxes.map((b) => [b.kind, b.w])).toEqual([
      ["map", OV.COL_W],
      ["op", OV.OP_W],
      ["box", OV.BOX_W],
    ]);
    expect(tight.boxes[1]?.x).toBe(OV.PAD + OV.COL_W + OV.GAP);
    const wide = layoutColumns(cols, specs, 2000);
    const gap = (wide.boxes[1]?.x ?? 0) - (wide.boxes[0]?.x ?? 0) - OV.COL_W;
    expect(gap).toBe(MAX_GAP);
    expect(wide.width).toBeLessThanOrEqual(2000);
  });
  it("finds the column under x and the columns in view", () => {
    const many = Array.from({ length: 100 }, (_, i) => spec(i));
    const { boxes } = layoutColumns(
      many.map((s) => ({ layer: s.index, depth: 0 })),
      many,
    );
    const b7 = boxes[7] as { x: number; w: number };
    expect(columnAt(boxes, b7.x + 1)).toBe(7);
    expect(columnAt(boxes, b7.x + b7.w + 1)).toBe(-1); // in the gap
    const [i0, i1] = visibleRange(boxes, b7.x + 2, b7.x + 2 + 3 * (OV.COL_W + OV.GAP));
    expect([i0, i1]).toEqual([7, 11]);
    expect(visibleRange(boxes, -50, 0)).toEqual([0, 0]);
  });
});

describe("thumbnails", () => {
  const box = { x: 100, w: OV.COL_W, kind: "map" as const };
  it("draws a 1-D map (one row of time steps) as a strip, cells still found", () => {
    const r = thumbRect(box, 50, 1, 1, 200);
    expect(r.w).toBe(OV.STRIP_W);
    expect(r.h).toBe(OV.STRIP);
    const c = cellsRect(r, 1, 200, { r0: 0, r1: 1, c0: 150, c1: 151 });
    expect(cellIn(r, 1, 200, c.x + c.w / 2, r.y + r.h - 1)).toEqual({ row: 0, col: 150 });
    expect(thumbRect(box, 50, 1, 1, 1).h).toBe(OV.THUMB); // a single cell stays square
  });
  it("keeps the map's aspect and maps points to cells and back", () => {
    const r = thumbRect(box, 50, 2, 6, 12);
    expect(r.w).toBe(OV.THUMB);
    expect(r.h).toBe(OV.THUMB / 2);
    expect(slotAt(50, r.y + 1, 5)).toBe(2);
    expect(slotAt(50, 50 + OV.THUMB + 1, 5)).toBe(-1); // the gap between thumbnails
    for (const [row, col] of [
      [0, 0],
      [5, 11],
      [3, 7],
    ] as [number, number][]) {
      const c = cellsRect(r, 6, 12, { r0: row, r1: row + 1, c0: col, c1: col + 1 });
      expect(cellIn(r, 6, 12, c.x + c.w / 2, c.y + c.h / 2)).toEqual({ row, col });
    }
    expect(cellIn(r, 6, 12, r.x - 1, r.y)).toBeNull();
  });
});

describe("1-D slots", () => {
  const box = { x: 100, w: OV.COL_W, kind: "map" as const };
  it("are wide and short, and the strip fills its slot", () => {
    const { h, pitch } = slotSize(true);
    expect(isStrip(1, 40)).toBe(true);
    expect(isStrip(1, 1) || isStrip(4, 40)).toBe(false);
    for (const slot of [0, 1, 7]) {
      const r = thumbRect(box, 50, slot, 1, 40);
      expect(r.w / r.h).toBeGreaterThanOrEqual(5); // a slot shaped for a strip
      expect(r.h).toBe(h); // no white space above or below the strip in its slot
      expect(r.y).toBe(50 + slot * pitch);
      expect(slotAt(50, r.y + 1, 8, true)).toBe(slot);
      expect(slotAt(50, r.y + h + 1, 8, true)).toBe(-1); // the gap under it
    }
    // square slots for 2-D maps are unchanged
    expect(slotSize(false)).toEqual({ h: OV.THUMB, pitch: OV.THUMB + OV.THUMB_GAP });
    expect(thumbRect(box, 50, 1, 8, 8).y).toBe(50 + OV.THUMB + OV.THUMB_GAP);
  });
  it("fit many more strips than squares in the same height", () => {
    expect(thumbsThatFit(100, 500)).toBe(7);
    expect(thumbsThatFit(100, 500, true)).toBe(29);
  });
  it("make a 1-D model's overview compact; 2-D and mixed models keep the full height", () => {
    expect(overviewHeight(120, 500, false, 8, 0)).toBe(500);
    const h8 = overviewHeight(120, 500, true, 8, 8);
    expect(h8).toBeLessThan(500 / 2);
    expect(thumbsThatFit(120, h8, true)).toBe(8); // every map shown, none left over
    const many = overviewHeight(120, 500, true, 256, 0);
    expect(thumbsThatFit(120, many, true)).toBe(OV.MAX_STRIPS);
    expect(overviewHeight(120, 500, true, 2, 32)).toBeGreaterThanOrEqual(120 + 32 * 6 + 18);
  });
});

describe("volume", () => {
  it("faces shrink with the map (√), depth grows with the channels (log₂)", () => {
    const big = volume(224, 224, 3, 224);
    const half = volume(112, 112, 64, 224);
    const quarter = volume(56, 56, 256, 224);
    expect(big.w).toBe(OV.FACE_MAX);
    expect(big.w > half.w && half.w > quarter.w).toBe(true);
    expect(half.w).toBe(Math.round(OV.FACE_MAX / Math.SQRT2));
    expect(big.d < half.d && half.d < quarter.d).toBe(true);
    expect(volume(7, 7, 4096, 224).d).toBe(OV.DEPTH_MAX);
    expect(volume(1, 1, 1, 224).w).toBeGreaterThanOrEqual(5);
  });
});
