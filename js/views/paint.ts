/**
 * Painting one rendered view from its ViewState: the grid of maps, the overlay (hover,
 * selection, dead filters, the traced cells), the selected maps large, the colour legend and
 * the receptive-field outlines on the input image. One colour story: every map of a layer
 * takes its range from the `colormap_range` trait and a sequential or diverging table.
 */
import type { AnyModel } from "@anywidget/types";
import { type ColorRange, type Lut, namedLut } from "../colormap";
import type { Store } from "../model/store";
import { rangeMode, selectedFilters } from "../model/traits";
import { channelReady, colorRange, isDiverging } from "../stats";
import type { LayerData, LayerSpec, Traits } from "../types";
import type { Controls } from "./controls";
import type { DetailView } from "./detail";
import { GridView, type OverlayState } from "./grid";
import type { InputView } from "./input";
import type { Legend } from "./legend";
import { rankOf, seriesLength } from "./series";
import type { ViewState } from "./state";
import { CLICKED_COLOR, clickedElsewhere, stepIsPre } from "./trace";

/** Non-negative maps: the positive half of DIVERGING_MAP (one colour per value). */
export const SEQUENTIAL_MAP = "RdBu+";
export const DIVERGING_MAP = "RdBu";
/** Repaint the grid when the pane's width changed by this many pixels. */
const RESIZE_STEP_PX = 24;

/** The elements a Painter draws into (built by the App). */
export interface PaintTargets {
  grid: GridView;
  detail: DetailView;
  legend: Legend;
  input: InputView;
  /** Its colour-range menu is kept in step with the trait; its info line tells the maps. */
  controls: Controls;
  /** The pane the grid fills: its width sets the zoom. */
  center: HTMLElement;
  /** 3-D layers: the hovered field shown on the input slice it reaches (views/slices.ts). */
  volume?: { field<T>(field: T | null): T | null };
}

export class Painter {
  private paintedWidth = 0;

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
    private readonly s: ViewState,
    private readonly t: PaintTargets,
  ) {}

  /** Colour range and table for filter `f` of a layer (the trace's thumbnails use it too). */
  styleFor(d: LayerData, f: number): { range: ColorRange; lut: Lut } {
    const div = this.diverging(d);
    return {
      range: colorRange(d, f, rangeMode(this.model), div, this.store.global),
      lut: namedLut(div ? DIVERGING_MAP : SEQUENTIAL_MAP),
    };
  }

  /**
   * Paints the shown layer's maps and everything drawn over or beside them (overlay, detail,
   * legend). Returns false, painting nothing, while no maps are loaded.
   */
  paintMaps(): boolean {
    const d = this.s.data;
    this.t.controls.range.value = rangeMode(this.model);
    if (!d) return false;
    const div = this.diverging(d);
    const lut = namedLut(div ? DIVERGING_MAP : SEQUENTIAL_MAP);
    const mode = rangeMode(this.model);
    const range = (f: number) => colorRange(d, f, mode, div, this.store.global);
    this.paintedWidth = this.availWidth();
    const steps = this.inputLength();
    this.t.grid.paint(d, this.s.order, range, lut, this.paintedWidth, steps);
    const g = this.t.grid.currentLayout;
    const deadText = this.s.dead.size ? ` · ${this.s.dead.size} dead` : "";
    const size = g ? ` · zoom ×${g.scale}` : "";
    const part = d.ready ? `${d.ready.reduce((a, b) => a + b, 0)} of ` : "";
    const loading = d.ready ? " · loading…" : "";
    const depth = this.s.spec?.depth ?? 1;
    const shape =
      steps !== undefined
        ? `${d.width} steps`
        : d.slice !== undefined
          ? `${depth}×${d.height}×${d.width} (depth slice ${d.slice})`
          : `${d.height}×${d.width}`;
    this.t.controls.info.textContent = `${part}${d.channels} maps of ${shape}${size}${deadText}${loading}`;
    this.paintOverlay();
    this.paintDetail();
    this.paintLegend();
    return true;
  }

  /** How many of a layer's maps the grid shows before scrolling (undefined: not a grid). */
  firstScreenful(spec: LayerSpec): number | undefined {
    const { channels: c, height: h, width: w } = spec;
    if (!spec.spatial || !c || !h || !w) return undefined;
    const steps = rankOf(spec) === 1 ? seriesLength(this.s.layers) : undefined;
    return GridView.firstScreenful(c, h, w, this.availWidth(), steps);
  }

  /** The input's time steps when the shown layer is a time series (its maps are strips). */
  private inputLength(): number | undefined {
    return rankOf(this.s.spec) === 1 ? seriesLength(this.s.layers) : undefined;
  }

  /** Whether the pane's width moved far enough from the painted one to repaint. */
  resized(): boolean {
    return (
      this.s.data !== null && Math.abs(this.availWidth() - this.paintedWidth) >= RESIZE_STEP_PX
    );
  }

  /** The selected filters' maps, large (empty when none or nothing is loaded). */
  paintDetail(): void {
    const d = this.s.data;
    if (!d) {
      this.t.detail.paint(
        null,
        [],
        () => ({ lo: 0, hi: 1, diverging: false }),
        namedLut(SEQUENTIAL_MAP),
      );
      return;
    }
    const div = this.diverging(d);
    const mode = rangeMode(this.model);
    this.t.detail.paint(
      d,
      selectedFilters(this.model).filter((f) => channelReady(d, f)),
      (f) => colorRange(d, f, mode, div, this.store.global),
      namedLut(div ? DIVERGING_MAP : SEQUENTIAL_MAP),
    );
    this.t.detail.mark(this.s.hover);
  }

  /** The legend of the hovered filter (else the first selected, else the first shown). */
  paintLegend(): void {
    const d = this.s.data;
    if (!d) return;
    const mode = rangeMode(this.model);
    let f = this.s.hover?.filter ?? selectedFilters(this.model)[0] ?? this.s.order[0] ?? 0;
    if (!channelReady(d, f)) f = this.s.order.find((g) => channelReady(d, g)) ?? f;
    const { range, lut } = this.styleFor(d, f);
    const caption =
      mode === "map"
        ? `colours: per map · filter ${f}`
        : mode === "global"
          ? "colours: all layers seen so far"
          : `colours: layer ${d.layer}${d.preActivation ? " (pre-activation)" : ""}`;
    this.t.legend.show(range, lut, caption);
  }

  /** Hover, selection, dead filters and the traced cells over the grid. */
  paintOverlay(): void {
    this.t.grid.paintOverlay({
      hover: this.s.hover,
      selected: new Set(selectedFilters(this.model)),
      dead: this.s.dead,
      linked: this.linked(),
    });
  }

  /** The hovered cell's receptive field and the trace's on the input image. */
  outlineInput(): void {
    const field = this.t.volume ? this.t.volume.field(this.s.hoverField) : this.s.hoverField;
    this.t.input.outline(field, this.s.trace?.receptive_field ?? null);
  }

  private diverging(d: LayerData): boolean {
    const spec = this.s.layers.find((l) => l.name === d.layer);
    return isDiverging(
      Boolean(spec?.signed),
      d.preActivation,
      d.layerMin,
      Boolean(spec?.fused_activation),
    );
  }

  private availWidth(): number {
    const w = this.t.center.clientWidth;
    return (w > 0 ? w : 640) - 18;
  }

  /** The trace's cells in the shown map: the traced cell, and the next step's window. */
  private linked(): OverlayState["linked"] {
    const t = this.s.trace;
    const spec = this.s.spec;
    if (!t || !spec) return [];
    const out: OverlayState["linked"] = [];
    const slice = this.s.data?.slice; // a 3-D layer: only the cells of the slice on show
    t.steps.forEach((st, i) => {
      if (st.layer !== spec.name || stepIsPre(t.steps, i) !== this.s.pre) return;
      if (slice !== undefined && st.depth !== undefined && st.depth !== slice) return;
      out.push({
        filter: st.filter,
        window: { row0: st.row, row1: st.row + 1, col0: st.col, col1: st.col + 1 },
        color: "#ff8c00",
      });
      const next = t.steps[i + 1];
      if (next?.window && next.filter === st.filter) {
        out.push({ filter: st.filter, window: next.window, color: "#00e5ff" });
      }
      const c = clickedElsewhere(t.clicked, st); // the chain shows the max-pool winner instead
      if (c) {
        const window = { row0: c.row, row1: c.row + 1, col0: c.col, col1: c.col + 1 };
        out.push({ filter: c.filter, window, color: CLICKED_COLOR });
      }
    });
    return out;
  }
}
