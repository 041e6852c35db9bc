import { describe, expect, it } from "vitest";
import {
  cellAt,
  cellOf,
  cellStart,
  coverage,
  firstScreenful,
  gridLayout,
  hitTest,
  MAX_SCALE,
  MIN_FIT_TILE,
  moveCell,
  receptiveField,
  STRIP_HEIGHT,
  slotOrigin,
  stripLayout,
} from "./layout";

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

describe("firstScreenful", () => {
  it("counts the maps a pane shows before scrolling, a started row included", () => {
    const g = gridLayout(32, 7, 7, { availWidth: 400, targetTile: 30, gap: 2 });
    expect([g.cols, g.tileH + g.gap]).toEqual([13, 30]);
    expect(firstScreenful(g, 2 + 30)).toBe(13); // one full row
    expect(firstScreenful(g, 2 + 31)).toBe(26); // a pixel of the second row shows too
    expect(firstScreenful(g, 1000)).toBe(32); // never more than there are
    expect(firstScreenful(g, 0)).toBe(13); // at least one row
  });
  it("gives VGG16's block1_conv1 (64 maps of 224×224) one screenful of a few rows", () => {
    const g = gridLayout(64, 224, 224, { availWidth: 922, maxHeight: 518 });
    expect(firstScreenful(g, 518)).toBe(g.cols * Math.ceil((518 - g.gap) / (g.tileH + g.gap)));
    expect(firstScreenful(g, 518)).toBeLessThan(64);
  });
});

describe("gridLayout filling the pane (maxHeight)", () => {
  const pane = { availWidth: 922, maxHeight: 518 };
  it("draws big maps larger than ×1 when the pane has room (4 maps of 96×128)", () => {
    const old = gridLayout(4, 96, 128, { availWidth: 922 });
    expect(old.scale).toBe(1); // the base scale: a third of the width used
    const g = gridLayout(4, 96, 128, pane);
    expect(g.scale).toBe(2); // ×3 would need two rows of 290 px > 518
    expect(coverage(g, 922)).toBeGreaterThan(coverage(old, 922));
    expect(g.cols).toBe(3);
    expect(g.width).toBeGreaterThan(0.8 * pane.availWidth);
    expect(g.height).toBeLessThanOrEqual(pane.maxHeight);
    const one = gridLayout(1, 96, 128, pane);
    expect(one.scale).toBe(5); // 480 px high; ×6 is 576
  });
  it("prefers full rows of large maps (small maps too, past the old ×16 cap)", () => {
    // ×12 would fit (6 + 6 + 4) but leaves a third of its last row grey
    expect(gridLayout(16, 12, 12, pane)).toMatchObject({ scale: 9, cols: 8, rows: 2 });
    expect(gridLayout(8, 24, 24, pane)).toMatchObject({ scale: 9, cols: 4, rows: 2 });
    expect(gridLayout(16, 6, 6, pane)).toMatchObject({ scale: 18, cols: 8, rows: 2 });
    expect(gridLayout(4, 28, 28, pane)).toMatchObject({ scale: 8, cols: 4, rows: 1 });
  });
  it("keeps the base scale for many maps (the pane scrolls)", () => {
    const base = gridLayout(512, 14, 14, { availWidth: 922 });
    expect(gridLayout(512, 14, 14, pane)).toEqual(base);
  });
  it("shrinks a few maps in a narrow pane rather than scroll (16 maps of 12×12, 437 px)", () => {
    const narrow = { availWidth: 437, maxHeight: 438 };
    expect(gridLayout(16, 12, 12, { availWidth: 437 }).height).toBeGreaterThan(438); // ×9
    expect(gridLayout(16, 12, 12, narrow)).toMatchObject({ scale: 8, cols: 4, rows: 4 });
  });
  it("picks the best-covering scale that fits, for every shape", () => {
    for (const n of [1, 2, 3, 4, 7, 16, 33, 64, 100, 256])
      for (const [mh, mw] of [
        [1, 1],
        [3, 5],
        [6, 6],
        [13, 13],
        [28, 28],
        [96, 128],
        [224, 224],
      ] as [number, number][])
        for (const availWidth of [300, 640, 922]) {
          const opts = { availWidth, maxHeight: 518 };
          const g = gridLayout(n, mh, mw, opts);
          const base = gridLayout(n, mh, mw, { availWidth });
          expect(g.scale).toBeLessThanOrEqual(MAX_SCALE);
          if (base.height > 518 && g.scale < base.scale) {
            // shrunk to fit: the largest smaller scale that does, tiles not below the floor
            expect(g.height).toBeLessThanOrEqual(518);
            expect(Math.max(mh, mw) * g.scale).toBeGreaterThanOrEqual(MIN_FIT_TILE);
            const up = gridLayout(n, mh, mw, { availWidth, scale: g.scale + 1 });
            expect(up.height > 518 || g.scale + 1 === base.scale).toBe(true);
            continue;
          }
          expect(g.scale).toBeGreaterThanOrEqual(base.scale);
          if (g.scale > base.scale) {
            expect(g.height).toBeLessThanOrEqual(518);
            expect(g.width).toBeLessThanOrEqual(availWidth);
          }
          if (base.height > 518) {
            expect(g).toEqual(base);
            continue;
          }
          for (let s = base.scale; s <= MAX_SCALE; s++) {
            const other = gridLayout(n, mh, mw, { availWidth, scale: s });
            const fits = other.height <= 518 && other.width <= Math.max(availWidth, base.width);
            if (fits)
              expect(coverage(other, availWidth)).toBeLessThanOrEqual(coverage(g, availWidth));
          }
        }
  });
  it("a forced scale re-lays the same tiles", () => {
    const g = gridLayout(10, 5, 5, { availWidth: 40, scale: 3 });
    expect(g).toMatchObject({ scale: 3, tileW: 15, cols: 2, rows: 5 });
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

describe("stripLayout (1-D maps)", () => {
  it("stacks strips in one column spanning the input's steps at an integer px per step", () => {
    const g = stripLayout(3, 20, 40, 300);
    expect(g.cols).toBe(1);
    expect(g.rows).toBe(3);
    expect(g.tileW).toBe(296); // the pane's width less the borders
    expect(g.tileH).toBe(STRIP_HEIGHT);
    expect(g.height).toBe(2 + 3 * (STRIP_HEIGHT + 2));
    // 20 cells over 296 px: cell 0 is pixels 0..14, cell 1 starts at ceil(296 / 20) = 15
    expect(hitTest(g, 2 + 14, 2 + 5)).toEqual({ slot: 0, row: 0, col: 0 });
    expect(hitTest(g, 2 + 15, 2 + STRIP_HEIGHT + 2)).toEqual({ slot: 1, row: 0, col: 1 });
    expect(hitTest(g, 2 + 296, 5)).toBeNull();
    expect(stripLayout(3, 20, 4, 300).tileW).toBe(4 * 24); // at most 24 px per input step
  });
  it("never draws a cell narrower than a pixel", () => {
    const g = stripLayout(1, 500, 100, 200);
    expect(g.tileW).toBe(500);
  });
});

describe("cellStart / cellOf", () => {
  it("are inverse: pixel p lies in cell c exactly when cellStart(c) <= p < cellStart(c+1)", () => {
    for (const [cells, px] of [
      [32, 200],
      [7, 50],
      [40, 40],
      [3, 10],
    ] as const) {
      for (let p = 0; p < px; p++) {
        const c = cellOf(p, cells, px);
        expect(cellStart(c, cells, px)).toBeLessThanOrEqual(p);
        expect(cellStart(c + 1, cells, px)).toBeGreaterThan(p);
      }
      expect(cellStart(cells, cells, px)).toBe(px);
    }
  });
  it("equal the integer scale for square grids", () => {
    expect(cellStart(5, 10, 30)).toBe(15);
    expect(cellOf(17, 10, 30)).toBe(5);
  });
});
