/**
 * One rendered view of the widget: the bar (title, the three view tabs, the kernel's status
 * line), the error line, and the three pages — the network overview (./overview/panel), one
 * layer's maps (./views/page) and the comparison of two inputs (./views/compare) — shown
 * by the `view` trait. Every view of a model shares the model's Store (and so its cache).
 */
import type { AnyModel } from "@anywidget/types";
import { Disposer, h } from "./dom";
import { openLayer, setView } from "./model/intent";
import type { Store } from "./model/store";
import { layerSpecs, onTrait, viewMode } from "./model/traits";
import { OverviewPanel } from "./overview/panel";
import type { OverviewCell } from "./overview/view";
import type { Traits } from "./types";
import { CompareView } from "./views/compare";
import { GridPage } from "./views/page";
import { showStatus } from "./views/status";
import { ViewTabs } from "./views/tabs";

export class App {
  readonly root = h("div", "fmw-root");
  private readonly title = h("h3", "fmw-title");
  private readonly errorEl = h("div", "fmw-error");
  private readonly statusEl = h("div", "fmw-muted fmw-status");
  private readonly tabs = new ViewTabs((mode) => {
    setView(this.model, mode);
    this.onView();
  });
  private readonly overview: OverviewPanel;
  private readonly page: GridPage;
  private readonly compare: CompareView;
  private readonly d = new Disposer();
  /** The last error of a message or a load ("" when none); shown with the `error` trait. */
  private msgError = "";

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
  ) {
    const ready = () => {
      this.root.dataset.ready = "1";
    };
    this.compare = new CompareView(model, store);
    this.overview = new OverviewPanel(model, store, (layer, cell) => this.open(layer, cell), ready);
    this.page = new GridPage(model, store, {
      error: (message) => {
        this.msgError = message;
        this.showError();
      },
      ready,
    });
    this.build();
    this.bind();
    this.onLayers();
    this.page.onTraceTarget();
    this.showError();
  }

  private build(): void {
    this.statusEl.setAttribute("role", "status");
    const bar = h("div", "fmw-bar");
    bar.append(this.title, this.tabs.el, this.statusEl);
    this.root.append(bar, this.errorEl, this.overview.el, this.page.el, this.compare.el);
    this.onView();
  }

  /** The `view` trait: show the network overview, the grid of one layer, or the comparison. */
  private onView(): void {
    const mode = viewMode(this.model);
    this.root.dataset.view = mode;
    this.overview.el.hidden = mode !== "overview";
    this.page.el.hidden = mode !== "grid";
    this.compare.el.hidden = mode !== "compare";
    this.tabs.show(mode);
    if (mode === "overview") this.overview.view.render();
    else if (mode === "compare") this.compare.render();
    else this.page.shown();
  }

  /** A click in the overview: open the layer's grid (a cell: select its map and trace it). */
  private open(layer: string, cell: OverviewCell | null): void {
    const spec = this.page.s.layers.find((l) => l.name === layer);
    openLayer(this.model, layer, cell, Boolean(spec?.spatial));
    if (this.page.s.spec?.name !== layer) this.page.onLayerTrait();
    this.onView();
  }

  private bind(): void {
    const on = (name: string, fn: () => void) => this.d.add(onTrait(this.model, name, fn));
    on("model_name", () => this.onTitle());
    on("layers", () => this.onLayers());
    on("colormap_range", () => this.overview.setMode());
    on("view", () => this.onView());
    on("error", () => this.showError());
    on("status", () => showStatus(this.statusEl, this.model.get("status")));
    showStatus(this.statusEl, this.model.get("status"));
    this.d.add(this.store.on("invalidate", () => this.overview.invalidate()));
    this.d.add(
      this.store.on("error", (e) => {
        this.msgError = e;
        this.showError();
      }),
    );
    this.d.add(() => {
      this.page.dispose();
      this.compare.dispose();
      this.overview.dispose();
    });
  }

  private onTitle(): void {
    const n = this.page.s.layers.length;
    this.title.textContent = `${String(this.model.get("model_name") ?? "")} — ${n} layer${n === 1 ? "" : "s"}`;
  }

  private onLayers(): void {
    const layers = layerSpecs(this.model);
    this.page.setLayers(layers);
    this.onTitle();
    this.overview.setLayers(layers);
    if (layers.length === 0) this.root.dataset.ready = "1";
  }

  private showError(): void {
    const parts = [String(this.model.get("error") ?? ""), this.msgError].filter((s) => s);
    this.errorEl.textContent = parts.join("\n");
  }

  dispose(): void {
    this.d.dispose();
  }
}
