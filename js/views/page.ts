/**
 * The "Layer maps" page: one layer's maps as a grid, with the layer strip, the bar of
 * controls, the input image and legend, the hovered cell's read-out, the selected maps
 * enlarged, the trace and its step-through, and the filter card. It binds the grid's traits
 * (`layer`, `selected_filters`, `hover`, `trace_target`, `colormap_range`) and loads what
 * it shows from the Store only while it is shown. What it shows lives in a ViewState;
 * painting (./paint), the hover (./hover), the grid's keys (./keys) and the controls
 * (./controls) are their own modules.
 */
import type { AnyModel } from "@anywidget/types";
import { namedLut } from "../colormap";
import { Disposer, h } from "../dom";
import { selectAndTrace } from "../model/intent";
import { StaleError, type Store } from "../model/store";
import { onTrait, rangeMode, selectedFilters, viewMode } from "../model/traits";
import { channelReady, isDead, type SortKey, sortOrder } from "../stats";
import type { Cell, LayerData, LayerSpec, TraceMsg, Traits } from "../types";
import { FilterCard } from "./card";
import { Controls } from "./controls";
import { DetailView } from "./detail";
import { DrawTool } from "./draw";
import { ExplainPanel } from "./explain";
import { type GridCell, GridView } from "./grid";
import { HoverView } from "./hover";
import { InputView } from "./input";
import { onGridKey } from "./keys";
import { Legend } from "./legend";
import { Painter, SEQUENTIAL_MAP } from "./paint";
import { savePngButton } from "./savepng";
import { rankOf, seriesLength } from "./series";
import { VolumeView } from "./slices";
import { defaultLayer, ViewState } from "./state";
import { LayerStrip } from "./strip";
import { inputLayerName, TraceView } from "./trace";

/** What the page tells the App: an error to show ("" clears it), and that it painted. */
export interface PageHost {
  error(message: string): void;
  ready(): void;
}

export class GridPage {
  readonly el = h("div", "fmw-gridview");
  readonly s = new ViewState();
  private readonly center = h("div", "fmw-center");
  private readonly controls: Controls;
  private readonly strip: LayerStrip;
  private readonly grid: GridView;
  private readonly input = new InputView();
  private readonly legend = new Legend();
  private readonly detail: DetailView;
  private readonly traceView: TraceView;
  private readonly paint: Painter;
  private readonly hover: HoverView;
  /** The filter card (top dataset examples, feature visualisation) and the input overlays. */
  private readonly card: FilterCard;
  private readonly explain: ExplainPanel;
  /** The pen and image upload under the input image. */
  private readonly draw: DrawTool;
  private readonly d = new Disposer();
  private sortKey: SortKey = "index";
  private loadToken = 0;
  private traceToken = 0;
  private inputToken = 0;
  /** 3-D layers: the volumes, the slice shown, the scrubber. */
  private readonly volume = new VolumeView({
    repaint: () => {
      this.s.data = this.volume.current ?? this.s.data;
      this.repaint();
      this.hover.refresh();
    },
    paintInput: (d) => this.paintInput(d),
    geometry: () => this.store.geometry(this.s.spec),
  });

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
    private readonly host: PageHost,
  ) {
    this.strip = new LayerStrip((name) => this.userSelectLayer(name));
    const handlers = {
      hover: (c: GridCell | null) => this.hover.set(c, true),
      click: (c: GridCell, ev: MouseEvent) =>
        this.activate(c, ev.shiftKey || ev.ctrlKey || ev.metaKey),
      key: (ev: KeyboardEvent) => this.onGridKey(ev),
    };
    this.grid = new GridView(handlers);
    this.detail = new DetailView(handlers);
    this.traceView = new TraceView({
      data: (layer, pre) => this.store.layer(layer, pre),
      style: (d, f) => this.paint.styleFor(d, f),
      inputOf: (layer) => inputLayerName(this.s.layers, layer),
    });
    this.controls = new Controls(
      {
        sort: (key) => {
          this.sortKey = key;
          this.reorder();
          this.repaint();
        },
        range: (mode) => {
          this.model.set("colormap_range", mode);
          this.model.save_changes();
        },
        pre: (checked) => {
          this.s.pre = checked;
          this.load();
        },
      },
      rangeMode(model),
    );
    const { grid, detail, legend, input, controls, center } = this;
    const parts = { grid, detail, legend, input, controls, center, volume: this.volume };
    this.paint = new Painter(model, store, this.s, parts);
    this.hover = new HoverView(model, store, this.s, { grid, detail, input, paint: this.paint });
    this.card = new FilterCard(model, store, this.s, (d, f) => this.paint.styleFor(d, f));
    this.explain = new ExplainPanel(model, store, input);
    this.draw = new DrawTool(input, model, (d) => this.paintInput(d));
    this.build();
    this.bind();
  }

  private build(): void {
    const side = h("div", "fmw-side");
    side.append(this.input.el, this.draw.el, this.explain.el, this.legend.el, this.hover.readout);
    this.controls.el.append(
      savePngButton(
        () => this.center.querySelector<HTMLCanvasElement>("canvas.fmw-grid"),
        () => this.s.spec?.name ?? "maps",
      ),
    );
    this.center.append(this.controls.el, this.volume.bar.el, this.grid.el, this.detail.el);
    const main = h("div", "fmw-main");
    main.append(side, this.center, this.traceView.el, this.card.el); // the trace beside the grid
    this.el.append(this.strip.el, main);
  }

  private bind(): void {
    const on = (name: string, fn: () => void) => this.d.add(onTrait(this.model, name, fn));
    on("layer", () => this.onLayerTrait());
    on("selected_filters", () => this.onSelection());
    on("hover", () => this.hover.onTrait());
    on("colormap_range", () => this.repaint());
    on("trace_target", () => this.onTraceTarget());
    this.d.add(this.store.on("invalidate", () => this.onInvalidate()));
    this.d.add(
      this.store.on("trace", (t) => {
        this.traceToken++; // an unsolicited trace from the kernel wins over a pending one
        this.showTrace(t);
      }),
    );
    this.d.add(this.store.on("partial", (d) => this.onPartial(d)));
    this.d.add(
      this.store.on("progress", (p) => {
        // a layer sent in parts (over 64 MiB): show how far it got
        if (p.layer !== this.s.spec?.name || p.preActivation !== this.s.pre) return;
        this.controls.progress(p.received, p.chunks);
      }),
    );
    if (typeof ResizeObserver !== "undefined") {
      const ro = new ResizeObserver(() => {
        if (this.paint.resized()) this.repaint();
      });
      ro.observe(this.center);
      this.d.add(() => ro.disconnect());
    }
    this.d.add(() => {
      this.hover.dispose();
      this.controls.dispose();
      this.grid.dispose();
      this.detail.dispose();
      this.strip.dispose();
      this.card.dispose();
      this.explain.dispose();
      this.draw.dispose();
    });
  }

  // ---- traits → page ------------------------------------------------------------------------

  /** The `layers` trait: a new model. */
  setLayers(layers: LayerSpec[]): void {
    this.s.layers = layers;
    this.strip.setLayers(layers);
    if (viewMode(this.model) === "grid") this.loadInput();
    this.onLayerTrait();
  }

  /** The page is shown: load the layer if it changed while the page was hidden. */
  shown(): void {
    const d = this.s.data;
    if (!d || d.layer !== this.s.spec?.name || d.preActivation !== this.s.pre) {
      // the layer may have changed (from Python, or a click) while the grid was hidden
      if (!d) this.loadInput();
      this.load();
    }
  }

  /** The `layer` trait (also called when the App opens a layer). */
  onLayerTrait(): void {
    const name = String(this.model.get("layer") ?? "");
    const spec = this.s.layers.find((l) => l.name === name) ?? defaultLayer(this.s.layers) ?? null;
    const changed = spec?.name !== this.s.spec?.name;
    this.s.spec = spec;
    if (!spec) return;
    this.strip.select(spec.name);
    if (!changed && this.s.data) return;
    if (!spec.fused_activation) this.s.pre = false;
    this.controls.showPre(spec, this.s.pre);
    this.s.hover = null;
    this.load();
  }

  private onSelection(): void {
    this.paint.paintOverlay();
    this.paint.paintDetail();
    const first = selectedFilters(this.model)[0];
    if (first !== undefined) this.grid.reveal(first);
  }

  /** trace_target changed (a click here, or the notebook): ask the kernel for that trace. */
  onTraceTarget(): void {
    const t = this.model.get("trace_target");
    const token = ++this.traceToken;
    if (!t) {
      this.s.trace = null;
      this.traceView.clear();
      this.strip.markLinked(new Set());
      this.paint.paintOverlay();
      this.paint.outlineInput();
      return;
    }
    const { layer, filter, row, col, depth } = t;
    const cell: Cell = depth == null ? { layer, filter, row, col } : { ...t, depth };
    const at = depth == null ? `(${row}, ${col})` : `(${depth}, ${row}, ${col})`;
    this.traceView.pending(`tracing ${layer} · filter ${filter} · ${at} …`);
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
    this.s.trace = t;
    this.traceView.series = seriesLength(this.s.layers) !== undefined;
    this.traceView.show(t);
    this.strip.markLinked(new Set((t.steps ?? []).map((s) => s.layer)));
    this.paint.paintOverlay();
    this.paint.outlineInput();
  }

  private onInvalidate(): void {
    this.hover.reset();
    this.s.trace = null;
    this.traceView.clear();
    this.s.data = null;
    this.s.hover = null;
    if (viewMode(this.model) !== "grid") return; // the grid loads when it is shown
    this.loadInput();
    this.load();
  }

  // ---- data ---------------------------------------------------------------------------------

  private loadInput(): void {
    const spec = this.s.layers.find((l) => l.kind === "input") ?? this.s.layers[0];
    if (!spec) return;
    const token = ++this.inputToken;
    this.store.layer(spec.name, false).then(
      (d) => {
        if (token !== this.inputToken) return;
        if (rankOf(spec) !== 2) {
          this.draw.el.hidden = true; // drawing is for images
          this.volume.setInput(d); // a volume: one slice at a time
        } else if (!this.draw.onInput(d)) this.volume.setInput(d);
        this.paint.outlineInput();
      },
      (e) => this.fail(e),
    );
  }

  private paintInput(d: LayerData): void {
    const spec = this.s.layers.find((l) => l.kind === "input") ?? this.s.layers[0];
    this.input.paint(d, namedLut("greys"), namedLut(SEQUENTIAL_MAP), rankOf(spec));
  }

  private load(): void {
    const spec = this.s.spec;
    if (!spec || viewMode(this.model) !== "grid") return;
    const token = ++this.loadToken;
    const pre = this.s.pre;
    this.controls.info.textContent = "loading…";
    const asked = this.store.layer(spec.name, pre, this.paint.firstScreenful(spec));
    const early = this.store.partial(spec.name, pre); // e.g. the part the kernel pushed
    if (early) this.onPartial(early);
    asked.then(
      (d) => {
        if (token !== this.loadToken) return;
        const wasPartial = Boolean(this.s.data?.ready);
        this.show(d);
        if (wasPartial) this.hover.refresh();
        this.hover.applyPending(spec.name);
      },
      (e) => {
        if (token === this.loadToken) this.fail(e);
      },
    );
  }

  /** Part of the shown layer arrived (the rest is coming): paint the maps that are in. */
  private onPartial(d: LayerData): void {
    const spec = this.s.spec;
    if (!spec || d.layer !== spec.name || d.preActivation !== this.s.pre) return;
    const shown = this.s.data;
    const same = shown?.layer === d.layer && shown.preActivation === d.preActivation;
    if (same && !shown.ready) return; // the whole layer is shown already
    this.show(d);
  }

  /** Shows `d` in the grid (a whole layer, or the part of it that arrived). */
  private show(d: LayerData): void {
    this.s.data = this.volume.show(d); // a 3-D layer: the slice on show
    this.host.error("");
    this.s.dead = new Set();
    const cells = d.height * d.width;
    for (let f = 0; f < d.channels; f++) {
      if (channelReady(d, f) && isDead(d.stats, f, cells)) this.s.dead.add(f);
    }
    this.reorder();
    this.repaint();
    this.card.update();
  }

  private fail(e: unknown): void {
    if (e instanceof StaleError) return;
    this.host.error(e instanceof Error ? e.message : String(e));
    this.controls.info.textContent = "";
  }

  private reorder(): void {
    const d = this.s.data;
    // statistics of maps still arriving are unknown: index order until the layer is in
    const key = d?.ready ? "index" : this.sortKey;
    this.s.order = d ? sortOrder(d.stats, d.channels, key) : [];
  }

  private repaint(): void {
    const t0 = performance.now();
    if (!this.paint.paintMaps()) return;
    this.hover.updateReadout();
    this.host.ready();
    performance.measure("fmw:repaint", { start: t0 }); // read by benchmarks/
  }

  // ---- view → traits ------------------------------------------------------------------------

  /** Click / Enter on a cell: select its filter (toggle with modifiers) and trace it. */
  private activate(cell: GridCell, toggle: boolean): void {
    const depth = this.s.data?.slice; // a 3-D layer: the slice on show
    const at = depth === undefined ? cell : { ...cell, depth };
    if (this.s.spec) selectAndTrace(this.model, this.s.spec.name, at, toggle);
  }

  private userSelectLayer(name: string): void {
    if (name === this.model.get("layer")) return;
    this.model.set("layer", name);
    this.model.save_changes();
    if (this.s.spec?.name !== name) this.onLayerTrait();
  }

  private onGridKey(ev: KeyboardEvent): void {
    if (this.volume.key(ev)) return; // , and . step through a volume's slices
    const d = this.s.data;
    const st = d && {
      hover: this.s.hover,
      selected: selectedFilters(this.model),
      order: this.s.order,
      height: d.height,
      width: d.width,
    };
    onGridKey(ev, st, {
      hover: (c) => this.hover.set(c, true),
      reveal: (f) => this.grid.reveal(f),
      activate: (c, toggle) => this.activate(c, toggle),
    });
  }

  dispose(): void {
    this.d.dispose();
    this.loadToken++;
    this.inputToken++;
  }
}
