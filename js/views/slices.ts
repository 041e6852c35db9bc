/**
 * 3-D layers (volumes, video): the grid shows one depth slice of every map at a time, chosen
 * with a slice scrubber (slider, `,` / `.` keys while the grid has focus); the input panel
 * shows the input slice the hovered cell's field reaches, its field outlined there, and the
 * scrubber tells the field's depth range.
 */
import { h } from "../dom";
import type { LayerData, LayerGeometry } from "../types";

/** Depth slices of a layer (1 for 1-D and 2-D layers). */
export function depthOf(d: LayerData | null | undefined): number {
  return d?.depth && d.depth > 1 ? d.depth : 1;
}

/**
 * Slice `z` of every map of a 3-D layer as a 2-D layer (a copy: channels × slice rows ×
 * width), with the volume's statistics (one colour range for all slices) and `slice` set.
 */
export function sliceOf(d: LayerData, z: number): LayerData {
  const depth = depthOf(d);
  if (depth === 1) return d;
  const rows = d.height / depth;
  const hw = rows * d.width;
  const total = d.height * d.width;
  const k = Math.min(depth - 1, Math.max(0, Math.floor(z)));
  const values = new Float32Array(d.channels * hw);
  for (let c = 0; c < d.channels; c++) {
    values.set(d.values.subarray(c * total + k * hw, c * total + (k + 1) * hw), c * hw);
  }
  const out: LayerData = { ...d, height: rows, values, slice: k };
  delete out.depth;
  return out;
}

/** The input depth slices [d0, d1) that depth slice `z` of a layer reads, or null. */
export function fieldDepth(
  geo: LayerGeometry | null | undefined,
  z: number,
): [number, number] | null {
  const r = geo?.depth?.[z];
  return r && r[0] < r[1] ? [r[0], r[1]] : null;
}

/**
 * The input slice to show: the middle of the field's depth range when there is one, else
 * the input slice at the same relative depth as the grid's slice `z` of `depth`.
 */
export function inputSliceFor(
  z: number,
  depth: number,
  inputDepth: number,
  field: [number, number] | null,
): number {
  if (field) return Math.min(inputDepth - 1, Math.floor((field[0] + field[1] - 1) / 2));
  return Math.min(inputDepth - 1, Math.floor(((z + 0.5) * inputDepth) / Math.max(1, depth)));
}

/** The scrubber above the grid (hidden for layers without depth). */
export class SliceBar {
  readonly el = h("div", "fmw-slices");
  readonly range = h("input", "fmw-slice");
  private readonly label = h("span", "fmw-slice-index");
  private readonly field = h("span", "fmw-slice-field fmw-muted");
  private depth = 1;

  constructor(onChange: (z: number) => void) {
    this.range.type = "range";
    this.range.min = "0";
    this.range.step = "1";
    this.range.setAttribute("aria-label", "depth slice");
    this.range.addEventListener("input", () => onChange(this.value));
    this.el.append(h("span", "fmw-slice-name", "depth"), this.range, this.label, this.field);
    this.el.hidden = true;
  }

  get value(): number {
    return Math.min(this.depth - 1, Math.max(0, Number(this.range.value) | 0));
  }

  /** Shows slice `z` of `depth` (hidden when `depth` is 1). */
  show(z: number, depth: number): void {
    this.depth = depth;
    this.el.hidden = depth <= 1;
    this.range.max = String(Math.max(0, depth - 1));
    this.range.value = String(z);
    this.label.textContent = `${z} of 0–${depth - 1}`;
    this.el.dataset.slice = String(z);
    this.el.dataset.depth = String(depth);
  }

  /** The hovered cell's field: input slices [d0, d1) of `inputDepth`, the one shown. */
  markField(f: [number, number] | null, inputDepth: number, shown: number): void {
    const ds = this.el.dataset;
    if (!f) {
      this.field.textContent = "";
      this.field.title = "";
      delete ds.field;
      return;
    }
    ds.field = `${f[0]},${f[1]}`;
    const slices = f[1] - f[0] === 1 ? `slice ${f[0]}` : `slices ${f[0]}–${f[1] - 1}`;
    // one line whatever its length (a wrapped line would move the grid under the pointer)
    this.field.textContent = `field: input ${slices} of ${inputDepth}; the input shows slice ${shown}`;
    this.field.title = this.field.textContent;
  }
}

/** What the page needs from the volume controller: where it paints and what it reads. */
export interface VolumeHost {
  /** The shown slice changed: repaint the grid and the hovered value. */
  repaint(): void;
  /** Paints this input (a slice of the input volume) in the input panel. */
  paintInput(d: LayerData): void;
  /** The shown layer's receptive-field tables. */
  geometry(): LayerGeometry | null | undefined;
}

/**
 * The page's 3-D state: the whole volume of the shown layer and of the input, the slice of
 * each on show, the scrubber. The page keeps slices (plain 2-D layers) in its ViewState.
 */
export class VolumeView {
  readonly bar: SliceBar;
  private volume: LayerData | null = null;
  private input: LayerData | null = null;
  private z = 0;
  private inputZ = 0;

  constructor(private readonly host: VolumeHost) {
    this.bar = new SliceBar((z) => this.setSlice(z));
  }

  /** A layer arrived: what the grid shows of it (the current slice of a volume, else it). */
  show(d: LayerData): LayerData {
    const depth = depthOf(d);
    const same = this.volume?.layer === d.layer;
    this.volume = depth > 1 ? d : null;
    if (!same) this.z = Math.floor(depth / 2); // a new volume opens at its middle slice
    this.z = Math.min(this.z, depth - 1);
    this.bar.show(this.z, depth);
    return this.volume ? sliceOf(d, this.z) : d;
  }

  /** The shown slice's data (to keep in the ViewState after a scrub). */
  get current(): LayerData | null {
    return this.volume ? sliceOf(this.volume, this.z) : null;
  }

  /** The slice index on show (0 for layers without depth). */
  get slice(): number {
    return this.volume ? this.z : 0;
  }

  setSlice(z: number): void {
    if (!this.volume) return;
    this.z = Math.min(depthOf(this.volume) - 1, Math.max(0, Math.floor(z)));
    this.bar.show(this.z, depthOf(this.volume));
    this.host.repaint();
  }

  /** `,` / `.` step through the slices (true when the key was used). */
  key(ev: KeyboardEvent): boolean {
    if (!this.volume || (ev.key !== "," && ev.key !== ".")) return false;
    ev.preventDefault();
    this.setSlice(this.z + (ev.key === "." ? 1 : -1));
    return true;
  }

  /** The input arrived: paints its middle slice (a volume) or itself. */
  setInput(d: LayerData): void {
    this.input = depthOf(d) > 1 ? d : null;
    this.inputZ = Math.floor(depthOf(d) / 2);
    this.host.paintInput(this.input ? sliceOf(d, this.inputZ) : d);
  }

  /**
   * The hovered cell's field for the input panel: for a volume, shows the input slice its
   * depth range reaches (repainting the input when it changes), marks the range on the
   * scrubber, and returns the field only when the shown input slice lies in that range.
   */
  field<T>(field: T | null): T | null {
    if (!this.input) return field;
    const inDepth = depthOf(this.input);
    const range = field && this.volume ? fieldDepth(this.host.geometry(), this.z) : null;
    const z = inputSliceFor(this.z, depthOf(this.volume), inDepth, range);
    if (z !== this.inputZ) {
      this.inputZ = z;
      this.host.paintInput(sliceOf(this.input, z));
    }
    this.bar.markField(range, inDepth, z);
    return range && (z < range[0] || z >= range[1]) ? null : field;
  }
}
