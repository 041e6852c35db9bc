/**
 * The keyboard in the grid (and the detail maps): arrows move the hovered cell, `[`/`]`
 * (PageUp/PageDown) move to the previous/next filter in display order, Enter/Space selects
 * and traces the hovered cell (Shift/Ctrl/Cmd add to the selection), Escape clears the hover.
 * `gridKeyAction` decides (pure); `onGridKey` applies it.
 */
import { moveCell } from "../layout";
import type { GridCell } from "./grid";

/** What a key does to the view. */
export type GridKeyAction =
  /** Hover this cell and scroll its map into view. */
  | { kind: "move"; cell: GridCell }
  /** Select this cell's filter (added to the selection when `toggle`) and trace the cell. */
  | { kind: "activate"; cell: GridCell; toggle: boolean }
  /** Hover nothing. */
  | { kind: "clear" };

/** What the keys move over: the shown layer's maps, in display order. */
export interface GridKeyState {
  hover: GridCell | null;
  selected: readonly number[];
  order: readonly number[];
  height: number;
  width: number;
}

type Key = Pick<KeyboardEvent, "key" | "shiftKey" | "ctrlKey" | "metaKey">;

const MOVES: Record<string, [number, number]> = {
  ArrowUp: [-1, 0],
  ArrowDown: [1, 0],
  ArrowLeft: [0, -1],
  ArrowRight: [0, 1],
};

/**
 * The action of `ev` (null: not a key of the grid, or no maps). Without a hovered cell, the
 * arrows and `[`/`]` start from the top-left cell of the first selected (else first shown) map.
 */
export function gridKeyAction(ev: Key, st: GridKeyState | null): GridKeyAction | null {
  if (!st || st.order.length === 0) return null;
  const cur = st.hover ?? {
    filter: st.selected[0] ?? (st.order[0] as number),
    row: 0,
    col: 0,
  };
  const mv = MOVES[ev.key];
  if (mv) {
    const c = st.hover ? moveCell(cur.row, cur.col, mv[0], mv[1], st.height, st.width) : cur;
    return { kind: "move", cell: { filter: cur.filter, row: c.row, col: c.col } };
  }
  if (ev.key === "[" || ev.key === "]" || ev.key === "PageUp" || ev.key === "PageDown") {
    const slot = st.order.indexOf(cur.filter);
    const step = ev.key === "]" || ev.key === "PageDown" ? 1 : -1;
    const f = st.order[Math.max(0, Math.min(st.order.length - 1, slot + step))] as number;
    return { kind: "move", cell: { filter: f, row: cur.row, col: cur.col } };
  }
  if ((ev.key === "Enter" || ev.key === " ") && st.hover) {
    return { kind: "activate", cell: st.hover, toggle: ev.shiftKey || ev.ctrlKey || ev.metaKey };
  }
  if (ev.key === "Escape") return { kind: "clear" };
  return null;
}

/** What applying an action does (the App's hover, grid and selection). */
export interface GridKeyTargets {
  hover(cell: GridCell | null): void;
  reveal(filter: number): void;
  activate(cell: GridCell, toggle: boolean): void;
}

/**
 * Applies the key's action. The browser's default action is prevented, except for Escape and
 * keys that are not the grid's (Tab keeps moving the focus).
 */
export function onGridKey(ev: KeyboardEvent, st: GridKeyState | null, to: GridKeyTargets): void {
  const a = gridKeyAction(ev, st);
  if (!a) return;
  if (a.kind === "clear") {
    to.hover(null);
    return;
  }
  ev.preventDefault();
  if (a.kind === "activate") {
    to.activate(a.cell, a.toggle);
    return;
  }
  to.hover(a.cell);
  to.reveal(a.cell.filter);
}
