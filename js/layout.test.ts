import { describe, expect, it } from "vitest";
import { cellAt, gridLayout, hitTest, moveCell, receptiveField, slotOrigin } from "./layout";

describe("gridLayout", () => {
  it("fits tiles into the available width with an integer scale", () => {
    const g = gridLayout(32, 7, 7, { availWidth: 400, targetTile: 30, gap: 2 });
    expect(g.scale).toBe(4);
    expect(g.tileW).toBe(28);
    expect(g.cols).toBe(13); // 2 + 13*30 = 392 <= 400
    expect(g.rows).toBe(3);
    expect(g.width).toBe(392);
    expect(g.height).toBe(2 + 3 * 30);
  });
  it("never uses more columns than maps, and at least one", () => {
    expect(gridLayout(3, 4, 4, { availWidth: 1000 }).cols).toBe(3);
    expect(gridLayout(3, 500, 500, { availWidth: 100 }).cols).toBe(1);
    expect(gridLayout(0, 4, 4, { availWidth: 100 }).rows).toBe(0);
  });
  it("handles thousands of 1×1 maps", () => {
    const g = gridLayout(4096, 1, 1, { availWidth: 800 });
    expect(g.cols * g.rows).toBeGreaterThanOrEqual(4096);
    expect(g.width).toBeLessThanOrEqual(800);
  });
});

describe("hitTest", () => {
  const g = gridLayout(5, 3, 2, { availWidth: 100, targetTile: 6, gap: 1 }); // scale 2, tile 4x6
  it("maps pixels to slot, row and column", () => {
    expect(g.scale).toBe(2);
    const o = slotOrigin(g, 1);
    expect(hitTest(g, o.x, o.y)).toEqual({ slot: 1, row: 0, col: 0 });
    expect(hitTest(g, o.x + 3, o.y + 5)).toEqual({ slot: 1, row: 2, col: 1 });
    expect(hitTest(g, o.x + 2.7, o.y + 2.1)).toEqual({ slot: 1, row: 1, col: 1 });
  });
  it("returns null in gaps, borders and empty slots", () => {
    const o = slotOrigin(g, 0);
    expect(hitTest(g, 0, 0)).toBeNull();
    expect(hitTest(g, o.x + 4, o.y)).toBeNull(); // gap after tile
    expect(hitTest(g, -1, 3)).toBeNull();
    expect(hitTest(g, g.width + 5, 3)).toBeNull();
    const g2 = gridLayout(3, 2, 2, { availWidth: 14, targetTile: 4, gap: 1 }); // 2 cols, 2 rows
    const last = slotOrigin(g2, 3);
    expect(hitTest(g2, last.x, last.y)).toBeNull();
  });
  it("round-trips every cell of every slot", () => {
    const g3 = gridLayout(7, 3, 4, { availWidth: 60, targetTile: 9, gap: 2 });
    for (let s = 0; s < 7; s++) {
      const o = slotOrigin(g3, s);
      for (let r = 0; r < 3; r++)
        for (let c = 0; c < 4; c++) {
          const hit = hitTest(g3, o.x + c * g3.scale + 0.5, o.y + r * g3.scale + 0.5);
          expect(hit).toEqual({ slot: s, row: r, col: c });
        }
    }
  });
});

describe("cellAt / moveCell / receptiveField", () => {
  it("maps detail pixels to cells", () => {
    expect(cellAt(9, 3, 4, 5, 5)).toEqual({ row: 0, col: 2 });
    expect(cellAt(20, 3, 4, 5, 5)).toBeNull();
  });
  it("clamps moves", () => {
    expect(moveCell(0, 0, -1, 0, 3, 3)).toEqual({ row: 0, col: 0 });
    expect(moveCell(2, 1, 1, 1, 3, 3)).toEqual({ row: 2, col: 2 });
  });
  it("reads the per-axis interval tables", () => {
    const geo = {
      rows: [
        [0, 2],
        [0, 3],
        [1, 4],
      ] as [number, number][],
      cols: [
        [0, 0],
        [2, 6],
      ] as [number, number][],
    };
    expect(receptiveField(geo, 2, 1)).toEqual({ row0: 1, row1: 4, col0: 2, col1: 6 });
    expect(receptiveField(geo, 0, 0)).toBeNull(); // a padding column reads no pixel
    expect(receptiveField(geo, 3, 1)).toBeNull(); // outside the table
  });
});
