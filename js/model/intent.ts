/**
 * What a user's clicks ask for, written to the traits (the kernel sees the same): select a
 * filter and trace a cell, open a layer's grid from the overview. One `save_changes` each.
 */
import type { AnyModel } from "@anywidget/types";
import type { Cell, Traits } from "../types";
import { selectedFilters } from "./traits";

export interface CellRef {
  filter: number;
  row: number;
  col: number;
  /** 3-D maps only: the depth slice. */
  depth?: number;
}

/** The `trace_target` of a cell of `layer` (with its depth for 3-D maps). */
function target(layer: string, cell: CellRef): Cell {
  const t = { layer, filter: cell.filter, row: cell.row, col: cell.col };
  return cell.depth === undefined ? t : { ...t, depth: cell.depth };
}

/** Click / Enter on a cell of `layer`: select its filter (toggle with modifiers), trace it. */
export function selectAndTrace(
  model: AnyModel<Traits>,
  layer: string,
  cell: CellRef,
  toggle: boolean,
): void {
  const sel = selectedFilters(model);
  let next = [cell.filter];
  if (toggle) {
    next = sel.includes(cell.filter) ? sel.filter((f) => f !== cell.filter) : [...sel, cell.filter];
  }
  model.set("selected_filters", next);
  model.set("trace_target", target(layer, cell));
  model.save_changes();
}

/**
 * Opens `layer` in the grid view; with a cell of a layer with maps, also selects its map and
 * traces it.
 */
export function openLayer(
  model: AnyModel<Traits>,
  layer: string,
  cell: CellRef | null,
  spatial: boolean,
): void {
  model.set("layer", layer);
  if (cell && spatial) {
    model.set("selected_filters", [cell.filter]);
    model.set("trace_target", target(layer, cell));
  }
  model.set("view", "grid");
  model.save_changes();
}

/** Shows the overview or the grid. */
export function setView(model: AnyModel<Traits>, mode: "overview" | "grid" | "compare"): void {
  if (model.get("view") === mode) return;
  model.set("view", mode);
  model.save_changes();
}
