/**
 * The overview panel: a bar with the one legend (which range mode is on, a menu to change it,
 * the colour bar of the hovered map), the network strip (./view.ts) and a read-out of the
 * hovered cell and of what it links to. Owns the thumbnail cache.
 */
import type { AnyModel } from "@anywidget/types";
import { namedLut } from "../colormap";
import { Disposer, h } from "../dom";
import { fmt3 } from "../format";
import type { Store } from "../model/store";
import { RANGE_MODES, rangeMode } from "../model/traits";
import { magnitude } from "../stats";
import type { LayerSpec, RangeMode, Traits } from "../types";
import { Legend } from "../views/legend";
import { DIVERGING_MAP } from "../views/paint";
import { globalMagnitude, READ_BY_COLOR, READS_COLOR, thumbStyle } from "./draw";
import { type Channels, channelCount, type Field } from "./links";
import { ThumbCache } from "./thumbs";
import { type OverviewCell, type OverviewHover, OverviewView } from "./view";

const MODE_WORDS: Record<RangeMode, string> = {
  map: "each map its own scale",
  layer: "each layer its own scale",
  global: "one scale for every layer",
};

/** Channels for the read-out's data-fields: a list when short, else the intervals. */
function chanJson(ch: Channels): number[] | { ranges: [number, number][] } | null {
  if (ch === null) return null;
  if (channelCount(ch, 0) > 64) return { ranges: ch };
  return ch.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
}

function boxText(f: Field): string {
  if (!f.box) return "all";
  const { r0, r1, c0, c1 } = f.box;
  const rows = r1 - r0 === 1 ? `row ${r0}` : `rows ${r0}–${r1 - 1}`;
  const cols = c1 - c0 === 1 ? `col ${c0}` : `cols ${c0}–${c1 - 1}`;
  return `${rows}, ${cols}`;
}

export class OverviewPanel {
  readonly el = h("div", "fmw-ov-panel");
  readonly view: OverviewView;
  private readonly thumbs: ThumbCache;
  private readonly legend = new Legend();
  private readonly range = h("select", "fmw-ov-range");
  private readonly readout = h("div", "fmw-ov-readout");
  private specs: LayerSpec[] = [];
  private readonly d = new Disposer();

  constructor(
    private readonly model: AnyModel<Traits>,
    store: Store,
    open: (layer: string, cell: OverviewCell | null) => void,
    ready: () => void,
  ) {
    this.thumbs = new ThumbCache(store, (name) => {
      const s = this.specs.find((l) => l.name === name);
      return Boolean(s && !s.spatial);
    });
    this.view = new OverviewView(this.thumbs, { open, ready, hover: (hv) => this.onHover(hv) });
    for (const m of RANGE_MODES) {
      const o = h("option", "", `colours: ${m === "global" ? "global" : `per ${m}`}`);
      o.value = m;
      this.range.append(o);
    }
    this.range.title = "the colour range: per map, per layer, or one for all layers";
    this.d.listen(this.range, "change", () => {
      this.model.set("colormap_range", this.range.value as RangeMode);
      this.model.save_changes();
      this.setMode();
    });
    const key = h("div", "fmw-ov-key");
    const reads = h("span", "fmw-ov-swatch");
    reads.style.background = READS_COLOR;
    const readBy = h("span", "fmw-ov-swatch");
    readBy.style.background = READ_BY_COLOR;
    key.append(
      h("span", "", "hover a map: "),
      reads,
      h("span", "", " the cells it reads · "),
      readBy,
      h("span", "", " the cells that read it · click a layer to open its maps"),
    );
    const bar = h("div", "fmw-ov-bar");
    this.legend.el.className = "fmw-ov-legend"; // .fmw-legend stays the grid's (a test hook)
    bar.append(this.range, this.legend.el, key);
    this.readout.setAttribute("aria-live", "polite");
    this.el.append(bar, this.view.el, this.readout);
  }

  setLayers(specs: LayerSpec[]): void {
    this.specs = specs;
    this.view.setLayers(specs);
    this.setMode();
  }

  /** The `colormap_range` trait changed (or the menu did). */
  setMode(): void {
    const mode = rangeMode(this.model);
    this.range.value = mode;
    this.view.setMode(mode);
    this.onHover(null);
  }

  invalidate(): void {
    this.view.invalidate();
  }

  private onHover(hv: OverviewHover | null): void {
    const mode = rangeMode(this.model);
    const ds = this.readout.dataset;
    for (const k of ["layer", "filter", "row", "col", "value", "fields"]) delete ds[k];
    const spec = hv ? this.specs[hv.index] : undefined;
    const t = spec ? this.thumbs.get(spec.name) : undefined;
    if (!hv || !spec || !t || spec.index === 0) {
      const m = globalMagnitude(this.specs);
      const g = mode === "global" && m > 0;
      this.legend.show(
        g ? { lo: -m, hi: m, diverging: true } : null,
        namedLut(DIVERGING_MAP),
        g ? "one scale for every layer" : `${MODE_WORDS[mode]}: hover a map`,
      );
      this.readout.textContent = hv && spec ? this.cellText(hv, spec) : "";
      if (hv && spec) this.mark(hv);
      return;
    }
    const st = thumbStyle(spec, t, hv.filter, mode, globalMagnitude(this.specs));
    const scope =
      mode === "map"
        ? `${spec.name} · map ${hv.filter}`
        : mode === "layer"
          ? spec.name
          : "all layers";
    const m = magnitude(st.range.lo, st.range.hi);
    this.legend.show(st.range, st.lut, `scale of ${scope}${m === 0 ? " (all zero)" : ""}`);
    this.readout.textContent = this.cellText(hv, spec);
    this.mark(hv);
  }

  private mark(hv: OverviewHover): void {
    const ds = this.readout.dataset;
    ds.layer = hv.layer;
    ds.filter = String(hv.filter);
    ds.row = String(hv.row);
    ds.col = String(hv.col);
    if (hv.value !== null) ds.value = String(hv.value);
    // the fields of the layers with a column (a test hook: small, even on DenseNet201)
    const json = (m: Map<number, Field>) =>
      Object.fromEntries(
        [...m]
          .filter(([i]) => this.view.isColumn(i))
          .map(([i, f]) => [
            this.specs[i]?.name ?? String(i),
            {
              box: f.box && [f.box.r0, f.box.r1, f.box.c0, f.box.c1],
              ch: chanJson(f.ch),
            },
          ]),
      );
    ds.fields = JSON.stringify({ reads: json(hv.fields.reads), readBy: json(hv.fields.readBy) });
  }

  private cellText(hv: OverviewHover, spec: LayerSpec): string {
    const where = spec.spatial ? ` · row ${hv.row}, col ${hv.col}` : "";
    const what = spec.spatial ? `map ${hv.filter}` : `value ${hv.filter}`;
    let value = "";
    if (hv.value !== null) {
      value =
        hv.factor === 1
          ? ` = ${fmt3(hv.value)}`
          : ` ≈ ${fmt3(hv.value)} (thumbnail: mean of ${hv.factor}×${hv.factor} cells; click for exact values)`;
    }
    const lines = [`${spec.name} · ${what}${where}${value}`];
    const input = hv.fields.reads.get(0);
    if (input && this.specs[0]) lines.push(`sees input pixels ${boxText(input)} (orange)`);
    const later = hv.fields.readBy.size;
    if (later) lines.push(`read by cells of ${later} later layer${later === 1 ? "" : "s"} (blue)`);
    return lines.join("\n");
  }

  dispose(): void {
    this.d.dispose();
    this.view.dispose();
    this.thumbs.dispose();
  }
}
