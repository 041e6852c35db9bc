import { describe, expect, it } from "vitest";
import { type GridKeyState, gridKeyAction, onGridKey } from "./keys";

const key = (k: string, mods: Partial<KeyboardEvent> = {}) => ({
  key: k,
  shiftKey: false,
  ctrlKey: false,
  metaKey: false,
  ...mods,
});

// 3 filters of 2×3 cells, shown in the order 2, 0, 1
const st = (over: Partial<GridKeyState> = {}): GridKeyState => ({
  hover: null,
  selected: [],
  order: [2, 0, 1],
  height: 2,
  width: 3,
  ...over,
});

describe("gridKeyAction", () => {
  it("moves the hovered cell with the arrows, clamped to the map", () => {
    const hover = { filter: 0, row: 1, col: 2 };
    expect(gridKeyAction(key("ArrowUp"), st({ hover }))).toEqual({
      kind: "move",
      cell: { filter: 0, row: 0, col: 2 },
    });
    expect(gridKeyAction(key("ArrowRight"), st({ hover }))?.kind).toBe("move");
    expect(gridKeyAction(key("ArrowRight"), st({ hover }))).toMatchObject({ cell: hover });
    expect(gridKeyAction(key("ArrowDown"), st({ hover }))).toMatchObject({ cell: hover });
  });

  it("starts from the top-left cell of the first selected, else first shown, map", () => {
    expect(gridKeyAction(key("ArrowDown"), st())).toEqual({
      kind: "move",
      cell: { filter: 2, row: 0, col: 0 },
    });
    expect(gridKeyAction(key("ArrowDown"), st({ selected: [1] }))).toMatchObject({
      cell: { filter: 1, row: 0, col: 0 },
    });
  });

  it("steps through filters in display order with [ ] and PageUp/PageDown, keeping the cell", () => {
    const hover = { filter: 0, row: 1, col: 1 };
    expect(gridKeyAction(key("]"), st({ hover }))).toMatchObject({
      cell: { filter: 1, row: 1, col: 1 },
    });
    expect(gridKeyAction(key("PageUp"), st({ hover }))).toMatchObject({ cell: { filter: 2 } });
    // at either end it stays
    expect(gridKeyAction(key("["), st({ hover: { ...hover, filter: 2 } }))).toMatchObject({
      cell: { filter: 2 },
    });
    expect(gridKeyAction(key("PageDown"), st({ hover: { ...hover, filter: 1 } }))).toMatchObject({
      cell: { filter: 1 },
    });
  });

  it("activates the hovered cell with Enter or Space, toggling with a modifier", () => {
    const hover = { filter: 1, row: 0, col: 2 };
    expect(gridKeyAction(key("Enter"), st({ hover }))).toEqual({
      kind: "activate",
      cell: hover,
      toggle: false,
    });
    expect(gridKeyAction(key(" ", { ctrlKey: true }), st({ hover }))).toMatchObject({
      toggle: true,
    });
    expect(gridKeyAction(key("Enter"), st())).toBeNull(); // nothing hovered
  });

  it("clears on Escape and ignores other keys, or any key without maps", () => {
    expect(gridKeyAction(key("Escape"), st())).toEqual({ kind: "clear" });
    expect(gridKeyAction(key("a"), st())).toBeNull();
    expect(gridKeyAction(key("ArrowUp"), st({ order: [] }))).toBeNull();
    expect(gridKeyAction(key("ArrowUp"), null)).toBeNull();
  });
});

describe("onGridKey", () => {
  const run = (k: string, state: GridKeyState | null) => {
    const calls: string[] = [];
    let prevented = false;
    const ev = { ...key(k), preventDefault: () => (prevented = true) } as KeyboardEvent;
    onGridKey(ev, state, {
      hover: (c) => calls.push(`hover ${JSON.stringify(c)}`),
      reveal: (f) => calls.push(`reveal ${f}`),
      activate: (c, t) => calls.push(`activate ${c.filter} ${t}`),
    });
    return { calls, prevented };
  };

  it("hovers and reveals on a move, keeping the browser's default only for Escape", () => {
    expect(run("ArrowLeft", st())).toEqual({
      calls: ['hover {"filter":2,"row":0,"col":0}', "reveal 2"],
      prevented: true,
    });
    expect(run("Enter", st({ hover: { filter: 0, row: 0, col: 0 } }))).toEqual({
      calls: ["activate 0 false"],
      prevented: true,
    });
    expect(run("Escape", st())).toEqual({ calls: ["hover null"], prevented: false });
    expect(run("Tab", st())).toEqual({ calls: [], prevented: false });
  });
});
