/**
 * The filter card's feature visualisation as a figure: an image (2-D models), a volume's
 * depth slices side by side (3-D), or a time series drawn as the input panel draws one — one
 * line per channel, or a heat strip when channels are many (1-D). Text via textContent only.
 */
import { namedLut } from "../colormap";
import { ctx2d, h } from "../dom";
import { fmt3 } from "../format";
import type { FilterImage } from "../model/explain";
import { SEQUENTIAL_MAP } from "./paint";
import { paintSeriesInput } from "./series";

/** Largest side of an image visualisation as shown (CSS px); a series plot is twice as wide. */
export const VIS_PX = 128;

/** The caption under a visualisation: what it is, and the activation it reached. */
export function visCaption(img: FilterImage, layer: string, f: number): string {
  const slices =
    img.kind === "slices" && img.depth
      ? ` (depth slices 0–${img.depth - 1}, left to right)`
      : img.kind === "series"
        ? ` (${img.length} time steps, one line per input channel)`
        : "";
  return `an input that excites filter ${f} of ${layer}${slices}: activation ${fmt3(img.startActivation)} → ${fmt3(img.activation)} in ${img.steps} steps`;
}

/** The visualisation's canvas, sized for the card (class `fmw-card-vis-img`). */
export function visCanvas(img: FilterImage): HTMLCanvasElement {
  const c = h("canvas", "fmw-card-vis-img");
  c.dataset.kind = img.kind;
  const ctx = ctx2d(c);
  if (img.kind === "series") {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of img.values) {
      if (!Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (!(hi >= lo)) [lo, hi] = [0, 1];
    const data = {
      values: img.values,
      width: img.length,
      height: 1,
      channels: img.channels,
      layerMin: lo,
      layerMax: hi,
    };
    if (ctx) paintSeriesInput(c, ctx, data, namedLut(SEQUENTIAL_MAP), 2 * VIS_PX);
    c.style.width = `${Math.min(c.width, 2 * VIS_PX)}px`;
    return c;
  }
  c.width = img.width;
  c.height = img.height;
  if (ctx) {
    const data = ctx.createImageData(img.width, img.height);
    data.data.set(img.rgba);
    ctx.putImageData(data, 0, 0);
  }
  // a montage of slices may be wide: up to twice the width, VIS_PX tall at most
  const wide = img.kind === "slices" ? 2 * VIS_PX : VIS_PX;
  const k = Math.max(1, Math.floor(Math.min(wide / img.width, VIS_PX / img.height)));
  c.style.width = `${img.width * k}px`;
  c.style.height = `${img.height * k}px`;
  return c;
}
