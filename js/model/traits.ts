/**
 * The synced traits as the views read them. A value of the wrong shape (set from a notebook,
 * or by an older kernel) reads as the default rather than breaking a view.
 */
import type { AnyModel } from "@anywidget/types";
import type { LayerSpec, RangeMode, Traits } from "../types";

/** The colour ranges the `colormap_range` trait may name, in menu order. */
export const RANGE_MODES: RangeMode[] = ["map", "layer", "global"];

/** The `layers` trait (no layers when it is not a list). */
export function layerSpecs(model: AnyModel<Traits>): LayerSpec[] {
  const layers = model.get("layers");
  return Array.isArray(layers) ? layers : [];
}

/** The `colormap_range` trait ("layer" when it is not one of RANGE_MODES). */
export function rangeMode(model: AnyModel<Traits>): RangeMode {
  const m = model.get("colormap_range");
  return RANGE_MODES.includes(m) ? m : "layer";
}

/** The `view` trait: the whole network ("overview", the default) or one layer ("grid"). */
export function viewMode(model: AnyModel<Traits>): "overview" | "grid" | "compare" {
  const v = model.get("view");
  return v === "grid" || v === "compare" ? v : "overview";
}

/** The integers of the `selected_filters` trait. */
export function selectedFilters(model: AnyModel<Traits>): number[] {
  const s = model.get("selected_filters");
  return Array.isArray(s) ? s.filter((f) => Number.isInteger(f)) : [];
}

/** Calls `fn` whenever trait `name` changes; returns the function that stops it. */
export function onTrait(model: AnyModel<Traits>, name: string, fn: () => void): () => void {
  model.on(`change:${name}`, fn);
  return () => model.off(`change:${name}`, fn);
}
