/**
 * What one rendered view shows. The App writes it as traits change and data arrives; the
 * painter and the hover read it (and the hover writes its cell and field). Plain fields.
 */
import type { LayerData, LayerSpec, TraceMsg, Window } from "../types";
import type { GridCell } from "./grid";

export class ViewState {
  /** The model's layers (the `layers` trait). */
  layers: LayerSpec[] = [];
  /** The layer shown in the grid. */
  spec: LayerSpec | null = null;
  /** Whether the grid shows the layer's map before its fused activation. */
  pre = false;
  /** The shown layer's maps, once they arrived. */
  data: LayerData | null = null;
  /** Filters in display order (the sort menu). */
  order: number[] = [];
  /** Filters whose map is zero everywhere. */
  dead = new Set<number>();
  /** The hovered cell of the shown layer. */
  hover: GridCell | null = null;
  /** The trace shown under the grid (its cells are outlined on the maps). */
  trace: TraceMsg | null = null;
  /** The hovered cell's receptive field on the input image. */
  hoverField: Window | null = null;
}

/** The layer the grid opens on when none is set: the first spatial one after the input. */
export function defaultLayer(layers: readonly LayerSpec[]): LayerSpec | undefined {
  return (
    layers.find((l) => l.kind !== "input" && l.spatial) ??
    layers.find((l) => l.kind !== "input") ??
    layers[0]
  );
}
