/**
 * One rendered view of the widget: wires the store and the traits to the views.
 * Every view of a model shares the model's Store (and so its cache).
 */
import type { AnyModel } from "@anywidget/types";
import { type ColorRange, type Lut, namedLut } from "./colormap";
import { Disposer, h } from "./dom";
import { fmt3 } from "./format";
import { moveCell, receptiveField } from "./layout";
import { colorRange, isDead, isDiverging, SORT_LABELS, type SortKey, sortOrder } from "./stats";
import { showStatus } from "./status";
import { StaleError, type Store } from "./store";
import type {
  Cell,
  Hover,
  LayerData,
  LayerSpec,
  RangeMode,
  TraceMsg,
  Traits,
  Window,
} from "./types";
import { DetailView } from "./views/detail";
import { type GridCell, GridView, type OverlayState } from "./views/grid";
import { InputView } from "./views/input";
import { Legend } from "./views/legend";
import { LayerStrip } from "./views/strip";
import {
  CLICKED_COLOR,
  clickedElsewhere,
  inputLayerName,
  stepIsPre,
  TraceView,
} from "./views/trace";

const SEQUENTIAL_MAP = "viridis";
const DIVERGING_MAP = "RdBu";
const HOVER_SEND_MS = 60;
const RANGE_MODES: RangeMode[] = ["map", "layer", "global"];

function sameCell(a: Hover | Cell | null, b: Hover | Cell | null): boolean {
  if (!a || !b) return a === b;
  return a.layer === b.layer && a.filter === b.filter && a.row === b.row && a.col === b.col;
}

export class App {
  readonly root = h("div", "fmw-root");
  private readonly title = h("h3", "fmw-title");
  private readonly errorEl = h("div", "fmw-error");
  private readonly statusEl = h("div", "fmw-muted fmw-status");
  private readonly readout = h("div", "fmw-readout");
  private readonly info = h("span", "fmw-muted fmw-info");
  private readonly sortSel = h("select", "fmw-sort");
  private readonly rangeSel = h("select", "fmw-range");
  private readonly preBox = h("input", "fmw-pre");
  private readonly preLabel = h("label", "fmw-pre-label");
  private readonly center = h("div", "fmw-center");
  private readonly strip: LayerStrip;
  private readonly grid: GridView;
  private readonly input = new InputView();
  private readonly legend = new Legend();
  private readonly detail: DetailView;
  private readonly traceView: TraceView;
  private readonly d = new Disposer();

  private layers: LayerSpec[] = [];
  private spec: LayerSpec | null = null;
  private pre = false;
  private sortKey: SortKey = "index";
  private data: LayerData | null = null;
  private order: number[] = [];
  private dead = new Set<number>();
  private hover: GridCell | null = null;
  private pendingHover: Hover | null = null;
  private trace: TraceMsg | null = null;
  private loadToken = 0;
  private traceToken = 0;
  private inputToken = 0;
  private msgError = "";
  private lastSentHover: Hover | null = null;
  private hoverTimer: ReturnType<typeof setTimeout> | null = null;
  private rfTimer: ReturnType<typeof setTimeout> | null = null;
  private hoverField: Window | null = null;
  private paintedWidth = 0;
  /** Layers for which the kernel refused a get_trace used for hover fields (no local geometry). */
  private readonly rfByTraceFailed = new Set<string>();

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
  ) {
    this.strip = new LayerStrip((name) => this.userSelectLayer(name));
    const handlers = {
      hover: (c: GridCell | null) => this.setHover(c, true),
      click: (c: GridCell, ev: MouseEvent) =>
        this.activate(c, ev.shiftKey || ev.ctrlKey || ev.metaKey),
      key: (ev: KeyboardEvent) => this.onGridKey(ev),
    };
    this.grid = new GridView(handlers);
    this.detail = new DetailView(handlers);
    this.traceView = new TraceView({
      data: (layer, pre) => this.store.layer(layer, pre),
      style: (d, f) => this.styleFor(d, f),
      inputOf: (layer) => inputLayerName(this.layers, layer),
    });
    this.build();
    this.bind();
    this.onLayers();
    this.onTraceTarget();
    this.showError();
  }

  private build(): void {
    const side = h("div", "fmw-side");
    side.append(this.input.el, this.legend.el, this.readout);
    this.readout.setAttribute("aria-live", "polite");
    for (const [key, label] of Object.entries(SORT_LABELS)) {
      const o = h("option", "", `sort: ${label}`);
      o.value = key;
      this.sortSel.append(o);
    }
    for (const mode of RANGE_MODES) {
      const o = h("option", "", `range: per ${mode}`);
      o.value = mode;
      this.rangeSel.append(o);
    }
    this.rangeSel.value = this.rangeMode();
    this.preBox.type = "checkbox";
    this.preLabel.append(this.preBox, h("span", "", "pre-activation"));
    const controls = h("div", "fmw-controls");
    controls.append(this.sortSel, this.rangeSel, this.preLabel, this.info);
    this.center.append(controls, this.grid.el, this.detail.el);
    const main = h("div", "fmw-main");
    main.append(side, this.center);
    this.statusEl.setAttribute("role", "status");
    this.root.append(
      this.title,
      this.statusEl,
      this.errorEl,
      this.strip.el,
      main,
      this.traceView.el,
    );
  }

  private bind(): void {
    const m = this.model;
    const on = (name: string, fn: () => void) => {
      m.on(`change:${name}`, fn);
      this.d.add(() => m.off(`change:${name}`, fn));
    };
    on("model_name", () => this.onTitle());
    on("layers", () => this.onLayers());
    on("layer", () => this.onLayerTrait());
    on("selected_filters", () => this.onSelection());
    on("hover", () => this.onHoverTrait());
    on("colormap_range", () => this.repaint());
    on("trace_target", () => this.onTraceTarget());
    on("error", () => this.showError());
    on("status", () => showStatus(this.statusEl, this.model.get("status")));
    showStatus(this.statusEl, this.model.get("status"));
    this.d.add(this.store.on("invalidate", () => this.onInvalidate()));
    this.d.add(
      this.store.on("trace", (t) => {
        this.traceToken++; // an unsolicited trace from the kernel wins over a pending one
        this.showTrace(t);
      }),
    );
    this.d.add(
      this.store.on("error", (e) => {
        this.msgError = e;
        this.showError();
      }),
    );
    this.d.add(
      this.store.on("progress", (p) => {
        // a layer sent in parts (over 64 MiB): show how far it got
        if (p.layer !== this.spec?.name || p.preActivation !== this.pre) return;
        if (p.received >= p.chunks) {
          delete this.info.dataset.progress;
          return;
        }
        this.info.dataset.progress = `${p.received}/${p.chunks}`;
        this.info.textContent = `loading… part ${p.received} of ${p.chunks}`;
      }),
    );
    this.d.listen(this.sortSel, "change", () => {
      this.sortKey = this.sortSel.value as SortKey;
      this.reorder();
      this.repaint();
    });
    this.d.listen(this.rangeSel, "change", () => {
      this.model.set("colormap_range", this.rangeSel.value as RangeMode);
      this.model.save_changes();
    });
    this.d.listen(this.preBox, "change", () => {
      this.pre = this.preBox.checked;
      this.load();
    });
    if (typeof ResizeObserver !== "undefined") {
      const ro = new ResizeObserver(() => {
        const w = this.availWidth();
        if (this.data && Math.abs(w - this.paintedWidth) >= 24) this.repaint();
      });
      ro.observe(this.center);
      this.d.add(() => ro.disconnect());
    }
    this.d.add(() => {
      if (this.hoverTimer) clearTimeout(this.hoverTimer);
      if (this.rfTimer) clearTimeout(this.rfTimer);
      this.grid.dispose();
      this.detail.dispose();
      this.strip.dispose();
    });
  }

  // ---- traits → view ------------------------------------------------------------------------

  private onTitle(): void {
    const n = this.layers.length;
    this.title.textContent = `${String(this.model.get("model_name") ?? "")} — ${n} layer${n === 1 ? "" : "s"}`;
  }

  private onLayers(): void {
    const layers = this.model.get("layers");
    this.layers = Array.isArray(layers) ? layers : [];
    this.onTitle();
    this.strip.setLayers(this.layers);
    this.loadInput();
    this.onLayerTrait();
    if (this.layers.length === 0) this.root.dataset.ready = "1";
  }

  private defaultLayer(): LayerSpec | undefined {
    return (
      this.layers.find((l) => l.kind !== "input" && l.spatial) ??
      this.layers.find((l) => l.kind !== "input") ??
      this.layers[0]
    );
  }

  private onLayerTrait(): void {
    const name = String(this.model.get("layer") ?? "");
    const spec = this.layers.find((l) => l.name === name) ?? this.defaultLayer() ?? null;
    const changed = spec?.name !== this.spec?.name;
    this.spec = spec;
    if (!spec) return;
    this.strip.select(spec.name);
    if (!changed && this.data) return;
    if (!spec.fused_activation) this.pre = false;
    this.preBox.checked = this.pre;
    this.preLabel.hidden = !spec.fused_activation;
    this.preLabel.title = spec.fused_activation
      ? `show the map before the fused ${spec.fused_activation}`
      : "";
    this.hover = null;
    this.load();
  }

  private onSelection(): void {
    this.paintOverlay();
    this.paintDetail();
    const first = this.selected()[0];
    if (first !== undefined) this.grid.reveal(first);
  }

  private onHoverTrait(): void {
    const hv = this.model.get("hover");
    if (sameCell(hv, this.lastSentHover)) return; // our own echo
    this.lastSentHover = hv;
    if (!hv) {
      this.setHover(null, false);
      return;
    }
    if (!this.spec || hv.layer !== this.spec.name) {
      if (this.layers.some((l) => l.name === hv.layer)) {
        this.pendingHover = hv;
        this.model.set("layer", hv.layer);
        this.model.save_changes();
      }
      return;
    }
    this.setHover({ filter: hv.filter, row: hv.row, col: hv.col }, false);
    this.grid.reveal(hv.filter);
  }

  /** trace_target changed (a click here, or the notebook): ask the kernel for that trace. */
  private onTraceTarget(): void {
    const t = this.model.get("trace_target");
    const token = ++this.traceToken;
    if (!t) {
      this.trace = null;
      this.traceView.clear();
      this.strip.markLinked(new Set());
      this.paintOverlay();
      this.outlineInput();
      return;
    }
    const cell: Cell = { layer: t.layer, filter: t.filter, row: t.row, col: t.col };
    this.traceView.pending(`tracing ${t.layer} · filter ${t.filter} · (${t.row}, ${t.col}) …`);
    this.store.trace(cell).then(
      (msg) => {
        if (token === this.traceToken) this.showTrace(msg);
      },
      (e) => {
        if (token !== this.traceToken || e instanceof StaleError) return;
        this.traceView.failed(e instanceof Error ? e.message : String(e));
      },
    );
  }

  private showTrace(t: TraceMsg): void {
    this.trace = t;
    this.traceView.show(t);
    this.strip.markLinked(new Set((t.steps ?? []).map((s) => s.layer)));
    this.paintOverlay();
    this.outlineInput();
  }

  private showError(): void {
    const parts = [String(this.model.get("error") ?? ""), this.msgError].filter((s) => s);
    this.errorEl.textContent = parts.join("\n");
  }

  private onInvalidate(): void {
    this.rfByTraceFailed.clear();
    this.trace = null;
    this.traceView.clear();
    this.data = null;
    this.hover = null;
    this.loadInput();
    this.load();
  }

  // ---- data ---------------------------------------------------------------------------------

  private loadInput(): void {
    const spec = this.layers.find((l) => l.kind === "input") ?? this.layers[0];
    if (!spec) return;
    const token = ++this.inputToken;
    this.store.layer(spec.name, false).then(
      (d) => {
        if (token !== this.inputToken) return;
        this.input.paint(d, namedLut("greys"), namedLut(SEQUENTIAL_MAP));
        this.outlineInput();
      },
      (e) => this.fail(e),
    );
  }

  private load(): void {
    const spec = this.spec;
    if (!spec) return;
    const token = ++this.loadToken;
    const pre = this.pre;
    this.info.textContent = "loading…";
    this.store.layer(spec.name, pre).then(
      (d) => {
        if (token !== this.loadToken) return;
        this.data = d;
        this.msgError = "";
        this.showError();
        this.dead = new Set();
        const cells = d.height * d.width;
        for (let f = 0; f < d.channels; f++) if (isDead(d.stats, f, cells)) this.dead.add(f);
        this.reorder();
        this.repaint();
        const ph = this.pendingHover;
        this.pendingHover = null;
        if (ph && ph.layer === spec.name) {
          this.setHover({ filter: ph.filter, row: ph.row, col: ph.col }, false);
          this.grid.reveal(ph.filter);
        }
      },
      (e) => {
        if (token === this.loadToken) this.fail(e);
      },
    );
  }

  private fail(e: unknown): void {
    if (e instanceof StaleError) return;
    this.msgError = e instanceof Error ? e.message : String(e);
    this.showError();
    this.info.textContent = "";
  }

  private reorder(): void {
    const d = this.data;
    this.order = d ? sortOrder(d.stats, d.channels, this.sortKey) : [];
  }

  // ---- painting -----------------------------------------------------------------------------

  private rangeMode(): RangeMode {
    const m = this.model.get("colormap_range");
    return RANGE_MODES.includes(m) ? m : "layer";
  }

  private diverging(d: LayerData): boolean {
    const spec = this.layers.find((l) => l.name === d.layer);
    return isDiverging(
      Boolean(spec?.signed),
      d.preActivation,
      d.layerMin,
      Boolean(spec?.fused_activation),
    );
  }

  private styleFor(d: LayerData, f: number): { range: ColorRange; lut: Lut } {
    const div = this.diverging(d);
    return {
      range: colorRange(d, f, this.rangeMode(), div, this.store.global),
      lut: namedLut(div ? DIVERGING_MAP : SEQUENTIAL_MAP),
    };
  }

  private availWidth(): number {
    const w = this.center.clientWidth;
    return (w > 0 ? w : 640) - 18;
  }

  private repaint(): void {
    const t0 = performance.now();
    const d = this.data;
    this.rangeSel.value = this.rangeMode();
    if (!d) return;
    const div = this.diverging(d);
    const lut = namedLut(div ? DIVERGING_MAP : SEQUENTIAL_MAP);
    const mode = this.rangeMode();
    const range = (f: number) => colorRange(d, f, mode, div, this.store.global);
    this.paintedWidth = this.availWidth();
    this.grid.paint(d, this.order, range, lut, this.paintedWidth);
    const g = this.grid.currentLayout;
    const deadText = this.dead.size ? ` · ${this.dead.size} dead` : "";
    const size = g ? ` · zoom ×${g.scale}` : "";
    this.info.textContent = `${d.channels} maps of ${d.height}×${d.width}${size}${deadText}`;
    this.paintOverlay();
    this.paintDetail();
    this.paintLegend();
    this.updateReadout();
    this.root.dataset.ready = "1";
    performance.measure("fmw:repaint", { start: t0 }); // read by benchmarks/
  }

  private paintDetail(): void {
    const d = this.data;
    if (!d) {
      this.detail.paint(
        null,
        [],
        () => ({ lo: 0, hi: 1, diverging: false }),
        namedLut(SEQUENTIAL_MAP),
      );
      return;
    }
    const div = this.diverging(d);
    const mode = this.rangeMode();
    this.detail.paint(
      d,
      this.selected(),
      (f) => colorRange(d, f, mode, div, this.store.global),
      namedLut(div ? DIVERGING_MAP : SEQUENTIAL_MAP),
    );
    this.detail.mark(this.hover);
  }

  private paintLegend(): void {
    const d = this.data;
    if (!d) return;
    const mode = this.rangeMode();
    const f = this.hover?.filter ?? this.selected()[0] ?? this.order[0] ?? 0;
    const { range, lut } = this.styleFor(d, f);
    const caption =
      mode === "map"
        ? `colours: per map · filter ${f}`
        : mode === "global"
          ? "colours: all layers seen so far"
          : `colours: layer ${d.layer}${d.preActivation ? " (pre-activation)" : ""}`;
    this.legend.show(range, lut, caption);
  }

  private selected(): number[] {
    const s = this.model.get("selected_filters");
    return Array.isArray(s) ? s.filter((f) => Number.isInteger(f)) : [];
  }

  private linked(): OverlayState["linked"] {
    const t = this.trace;
    const spec = this.spec;
    if (!t || !spec) return [];
    const out: OverlayState["linked"] = [];
    t.steps.forEach((s, i) => {
      if (s.layer !== spec.name || stepIsPre(t.steps, i) !== this.pre) return;
      out.push({
        filter: s.filter,
        window: { row0: s.row, row1: s.row + 1, col0: s.col, col1: s.col + 1 },
        color: "#ff8c00",
      });
      const next = t.steps[i + 1];
      if (next?.window && next.filter === s.filter) {
        out.push({ filter: s.filter, window: next.window, color: "#00e5ff" });
      }
      const c = clickedElsewhere(t.clicked, s); // the chain shows the max-pool winner instead
      if (c) {
        const window = { row0: c.row, row1: c.row + 1, col0: c.col, col1: c.col + 1 };
        out.push({ filter: c.filter, window, color: CLICKED_COLOR });
      }
    });
    return out;
  }

  private paintOverlay(): void {
    this.grid.paintOverlay({
      hover: this.hover,
      selected: new Set(this.selected()),
      dead: this.dead,
      linked: this.linked(),
    });
  }

  private outlineInput(): void {
    this.input.outline(this.hoverField, this.trace?.receptive_field ?? null);
  }

  // ---- hover, selection, trace ----------------------------------------------------------------

  private setHover(cell: GridCell | null, fromUser: boolean): void {
    const d = this.data;
    if (cell && (!d || cell.filter < 0 || cell.filter >= d.channels)) cell = null;
    if (cell && d) {
      const c = moveCell(cell.row, cell.col, 0, 0, d.height, d.width);
      cell = { filter: cell.filter, ...c };
    }
    const same =
      cell === this.hover ||
      (cell &&
        this.hover &&
        cell.filter === this.hover.filter &&
        cell.row === this.hover.row &&
        cell.col === this.hover.col);
    if (same) return;
    const t0 = performance.now();
    this.hover = cell;
    this.paintOverlay();
    this.detail.mark(cell);
    this.updateReadout();
    if (this.rangeMode() === "map") this.paintLegend();
    this.updateHoverField();
    if (fromUser) this.sendHover();
    performance.measure("fmw:hover", { start: t0 }); // read by benchmarks/
  }

  private hoverValue(): Hover | null {
    const d = this.data;
    const c = this.hover;
    if (!d || !c || !this.spec) return null;
    const v = d.values[c.filter * d.height * d.width + c.row * d.width + c.col] as number;
    return { layer: this.spec.name, filter: c.filter, row: c.row, col: c.col, value: v };
  }

  private updateReadout(): void {
    const hv = this.hoverValue();
    const ds = this.readout.dataset;
    if (!hv) {
      this.readout.textContent = this.data
        ? "hover a map for its values\nclick a cell to trace it"
        : "";
      for (const k of ["layer", "filter", "row", "col", "value"]) delete ds[k];
      return;
    }
    const pre = this.data?.preActivation ? " (pre-activation)" : "";
    this.readout.textContent = `${hv.layer}${pre}\nfilter ${hv.filter} · row ${hv.row} · col ${hv.col}\nvalue ${fmt3(hv.value)}`;
    ds.layer = hv.layer;
    ds.filter = String(hv.filter);
    ds.row = String(hv.row);
    ds.col = String(hv.col);
    ds.value = String(hv.value);
  }

  private updateHoverField(): void {
    if (this.rfTimer) clearTimeout(this.rfTimer);
    this.rfTimer = null;
    const hv = this.hoverValue();
    const img = this.input.imageSize;
    const geo = this.spec?.receptive_field;
    if (!hv || !img) {
      this.hoverField = null;
      this.outlineInput();
      return;
    }
    if (geo) {
      this.hoverField = receptiveField(geo, hv.row, hv.col);
      this.outlineInput();
      return;
    }
    if (this.rfByTraceFailed.has(hv.layer)) {
      this.hoverField = null;
      this.outlineInput();
      return;
    }
    // no local geometry: ask the kernel (debounced) for this cell's receptive field
    this.rfTimer = setTimeout(() => {
      const cell: Cell = { layer: hv.layer, filter: hv.filter, row: hv.row, col: hv.col };
      this.store.trace(cell).then(
        (t) => {
          const now = this.hoverValue();
          if (!now || !sameCell(now, cell)) return;
          this.hoverField = t.receptive_field ?? null;
          this.outlineInput();
        },
        (e) => {
          if (!(e instanceof StaleError)) this.rfByTraceFailed.add(cell.layer);
        },
      );
    }, 150);
  }

  /** Throttled hover → trait (trailing edge always sent). */
  private sendHover(): void {
    if (this.hoverTimer) return;
    this.hoverTimer = setTimeout(() => {
      this.hoverTimer = null;
      const hv = this.hoverValue();
      if (sameCell(hv, this.lastSentHover)) return;
      const wire = hv && { ...hv, value: Number.isFinite(hv.value) ? hv.value : null };
      this.lastSentHover = hv;
      this.model.set("hover", wire as Hover | null);
      this.model.save_changes();
    }, HOVER_SEND_MS);
  }

  /** Click / Enter on a cell: select its filter (toggle with modifiers) and trace it. */
  private activate(cell: GridCell, toggle: boolean): void {
    if (!this.spec) return;
    const sel = this.selected();
    let next: number[];
    if (toggle) {
      next = sel.includes(cell.filter)
        ? sel.filter((f) => f !== cell.filter)
        : [...sel, cell.filter];
    } else {
      next = [cell.filter];
    }
    this.model.set("selected_filters", next);
    this.model.set("trace_target", {
      layer: this.spec.name,
      filter: cell.filter,
      row: cell.row,
      col: cell.col,
    });
    this.model.save_changes();
  }

  private userSelectLayer(name: string): void {
    if (name === this.model.get("layer")) return;
    this.model.set("layer", name);
    this.model.save_changes();
    if (this.spec?.name !== name) this.onLayerTrait();
  }

  private onGridKey(ev: KeyboardEvent): void {
    const d = this.data;
    if (!d || this.order.length === 0) return;
    const cur = this.hover ?? {
      filter: this.selected()[0] ?? (this.order[0] as number),
      row: 0,
      col: 0,
    };
    const moves: Record<string, [number, number]> = {
      ArrowUp: [-1, 0],
      ArrowDown: [1, 0],
      ArrowLeft: [0, -1],
      ArrowRight: [0, 1],
    };
    const mv = moves[ev.key];
    if (mv) {
      ev.preventDefault();
      const c = this.hover ? moveCell(cur.row, cur.col, mv[0], mv[1], d.height, d.width) : cur;
      this.setHover({ filter: cur.filter, row: c.row, col: c.col }, true);
      this.grid.reveal(cur.filter);
      return;
    }
    if (ev.key === "[" || ev.key === "]" || ev.key === "PageUp" || ev.key === "PageDown") {
      ev.preventDefault();
      const slot = this.order.indexOf(cur.filter);
      const step = ev.key === "]" || ev.key === "PageDown" ? 1 : -1;
      const f = this.order[Math.max(0, Math.min(this.order.length - 1, slot + step))] as number;
      this.setHover({ filter: f, row: cur.row, col: cur.col }, true);
      this.grid.reveal(f);
      return;
    }
    if ((ev.key === "Enter" || ev.key === " ") && this.hover) {
      ev.preventDefault();
      this.activate(this.hover, ev.shiftKey || ev.ctrlKey || ev.metaKey);
      return;
    }
    if (ev.key === "Escape") this.setHover(null, true);
  }

  dispose(): void {
    this.d.dispose();
    this.loadToken++;
    this.inputToken++;
  }
}
