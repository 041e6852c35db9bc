/**
 * The bar above the grid: the sort order, the colour range, the pre-activation switch (shown
 * for layers with a fused activation) and the info line (map count, zoom, dead filters, or how
 * much of a layer has arrived). Changes go to the App through callbacks.
 */
import { Disposer, h } from "../dom";
import { RANGE_MODES } from "../model/traits";
import { SORT_LABELS, type SortKey } from "../stats";
import type { LayerSpec, RangeMode } from "../types";

export interface ControlHandlers {
  sort(key: SortKey): void;
  range(mode: RangeMode): void;
  pre(checked: boolean): void;
}

export class Controls {
  readonly el = h("div", "fmw-controls");
  /** The colour-range menu (the painter keeps it in step with the trait). */
  readonly range = h("select", "fmw-range");
  /** The info line. */
  readonly info = h("span", "fmw-muted fmw-info");
  private readonly sort = h("select", "fmw-sort");
  private readonly preBox = h("input", "fmw-pre");
  private readonly preLabel = h("label", "fmw-pre-label");
  private readonly d = new Disposer();

  constructor(on: ControlHandlers, mode: RangeMode) {
    for (const [key, label] of Object.entries(SORT_LABELS)) {
      const o = h("option", "", `sort: ${label}`);
      o.value = key;
      this.sort.append(o);
    }
    for (const m of RANGE_MODES) {
      const o = h("option", "", `range: per ${m}`);
      o.value = m;
      this.range.append(o);
    }
    this.range.value = mode;
    this.preBox.type = "checkbox";
    this.preLabel.append(this.preBox, h("span", "", "pre-activation"));
    this.el.append(this.sort, this.range, this.preLabel, this.info);
    this.d.listen(this.sort, "change", () => on.sort(this.sort.value as SortKey));
    this.d.listen(this.range, "change", () => on.range(this.range.value as RangeMode));
    this.d.listen(this.preBox, "change", () => on.pre(this.preBox.checked));
  }

  /** Sets the pre-activation switch for layer `spec` (hidden without a fused activation). */
  showPre(spec: LayerSpec, checked: boolean): void {
    this.preBox.checked = checked;
    this.preLabel.hidden = !spec.fused_activation;
    this.preLabel.title = spec.fused_activation
      ? `show the map before the fused ${spec.fused_activation}`
      : "";
  }

  /** Part `received` of `chunks` of the shown layer arrived (all: the line is left as is). */
  progress(received: number, chunks: number): void {
    if (received >= chunks) {
      delete this.info.dataset.progress;
      return;
    }
    this.info.dataset.progress = `${received}/${chunks}`;
    this.info.textContent = `loading… part ${received} of ${chunks}`;
  }

  dispose(): void {
    this.d.dispose();
  }
}
