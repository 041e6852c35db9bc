/**
 * The filter card: what the selected filter of the shown layer detects. Its k top dataset
 * patches (`get_examples`: each the input crop of the winning cell's exact receptive field,
 * drawn one canvas pixel per input pixel at one zoom for all, with its value and sample
 * index), beside this input's map, and a feature visualisation computed on request
 * (`get_filter_image`; progress from the `status` trait; cached per (layer, filter) for the
 * model's Store). Nothing here waits: replies paint when they come, if still wanted.
 * Layer names are user data: text goes in through textContent only.
 */
import type { AnyModel } from "@anywidget/types";
import { type ColorRange, type Lut, mapToRgba } from "../colormap";
import { ctx2d, Disposer, h } from "../dom";
import { fmt3 } from "../format";
import {
  decodeExamples,
  decodeFilterImage,
  type ExampleSet,
  type FilterImage,
  patchRange,
  patchRgba,
} from "../model/explain";
import { memoOf, remember } from "../model/memo";
import { StaleError, type Store } from "../model/store";
import { onTrait, selectedFilters, viewMode } from "../model/traits";
import { channelReady } from "../stats";
import type { LayerData, Traits } from "../types";
import { visCanvas, visCaption } from "./card-vis";
import type { ViewState } from "./state";
import { statusText } from "./status";

/** Largest side of a patch as shown (CSS pixels); the zoom is one integer for all patches. */
const PATCH_PX = 72;
const MAP_PX = 72;
/** A feature visualisation may take minutes on a big model (its steps show in `status`). */
const VIS_TIMEOUT_MS = 30 * 60_000;

interface ExamplesSummary {
  k?: number;
  num_samples?: number;
  has_samples?: boolean;
  layers?: Record<string, { channels?: number; boxes?: boolean }>;
}

/** Integer zoom so the largest patch side is at most `px` CSS pixels (at least 1). */
export function patchZoom(sides: readonly number[], px = PATCH_PX): number {
  const m = Math.max(1, ...sides);
  return Math.max(1, Math.floor(px / m));
}

/** The Python line that computes examples for `layer` (shown when it has none). */
export function examplesHint(layer: string): string {
  const name = JSON.stringify(layer);
  return `No dataset examples for this layer yet: w.compute_examples(data, layers=[${name}]) finds the input patches that excite each filter most.`;
}

function canvasOf(rgba: Uint8ClampedArray, w: number, hgt: number, cls: string): HTMLCanvasElement {
  const c = h("canvas", cls);
  c.width = w;
  c.height = hgt;
  const ctx = ctx2d(c);
  if (ctx) {
    const img = ctx.createImageData(w, hgt);
    img.data.set(rgba);
    ctx.putImageData(img, 0, 0);
  }
  return c;
}

export class FilterCard {
  readonly el = h("section", "fmw-card");
  private readonly head = h("div", "fmw-card-head");
  private readonly row = h("div", "fmw-card-row");
  private readonly mapTile = h("figure", "fmw-card-tile fmw-card-this");
  private readonly examples = h("div", "fmw-card-examples");
  private readonly vis = h("div", "fmw-card-vis");
  private readonly visButton = h("button", "fmw-card-vis-btn", "Feature visualisation");
  private readonly visStatus = h("span", "fmw-muted fmw-card-vis-status");
  private readonly visFigure = h("figure", "fmw-card-tile fmw-card-vis-fig");
  private readonly d = new Disposer();
  /** What the card shows: `layer` + filter; replies for anything else are dropped. */
  private shown = "";
  private visBusy = false;

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
    private readonly s: ViewState,
    private readonly style: (d: LayerData, f: number) => { range: ColorRange; lut: Lut },
  ) {
    this.el.hidden = true;
    this.el.setAttribute("aria-label", "filter card");
    this.visButton.type = "button";
    this.visButton.title = "gradient ascent on the input from noise (computed by the kernel)";
    this.vis.append(this.visButton, this.visStatus, this.visFigure);
    this.row.append(this.mapTile, this.examples, this.vis);
    this.el.append(this.head, this.row);
    this.d.listen(this.visButton, "click", () => this.askVis());
    // after the App's own handlers of the same change (they set what the view shows)
    for (const name of ["selected_filters", "layer", "view"]) {
      this.d.add(onTrait(model, name, () => queueMicrotask(() => this.update())));
    }
    this.d.add(onTrait(model, "status", () => this.showProgress()));
    this.d.add(
      onTrait(model, "examples_summary", () => {
        memoOf(this.store, "examples").clear(); // new examples: ask again
        this.shown = "";
        this.update();
      }),
    );
  }

  /** The selected filter of the shown layer, or null (no selection, or not the grid). */
  private target(): { layer: string; filter: number } | null {
    const spec = this.s.spec;
    const f = selectedFilters(this.model)[0];
    if (viewMode(this.model) !== "grid" || !spec?.spatial || f === undefined) return null;
    if (spec.channels !== null && (f < 0 || f >= spec.channels)) return null;
    return { layer: spec.name, filter: f };
  }

  /** Re-reads what to show (selection, layer, data): call when the shown maps change. */
  update(): void {
    const t = this.target();
    this.el.hidden = t === null;
    if (!t) {
      this.shown = "";
      return;
    }
    const key = JSON.stringify([t.layer, t.filter]);
    this.paintMap(t.layer, t.filter);
    if (key === this.shown) return;
    this.shown = key;
    this.el.dataset.layer = t.layer;
    this.el.dataset.filter = String(t.filter);
    this.head.replaceChildren(
      h("span", "fmw-trace-name", `filter ${t.filter}`),
      h("span", "fmw-muted", ` of ${t.layer} · what excites it`),
    );
    this.loadExamples(t.layer, t.filter, key);
    this.showVis(t.layer, t.filter, key);
  }

  /** This input's map of the filter, small, in the grid's colours. */
  private paintMap(layer: string, f: number): void {
    const d = this.s.data;
    if (!d || d.layer !== layer || !channelReady(d, f) || f >= d.channels) {
      this.mapTile.replaceChildren();
      return;
    }
    const { range, lut } = this.style(d, f);
    const rgba = new Uint8ClampedArray(d.width * d.height * 4);
    mapToRgba(d.values, f * d.height * d.width, d.width, d.height, range, lut, {
      out: rgba,
      offset: 0,
      stride: d.width * 4,
      scale: 1,
    });
    const c = canvasOf(rgba, d.width, d.height, "fmw-card-map");
    const k = patchZoom([d.height, d.width], MAP_PX);
    c.style.width = `${d.width * k}px`;
    c.style.height = `${d.height * k}px`;
    const cap = h("figcaption", "fmw-muted", "this input");
    cap.title = "the filter's map for the input shown (as in the grid)";
    this.mapTile.replaceChildren(c, cap);
  }

  private loadExamples(layer: string, f: number, key: string): void {
    const summary = this.model.get("examples_summary") as ExamplesSummary | null | undefined;
    delete this.examples.dataset.count;
    if (!summary?.layers?.[layer]) {
      this.examples.replaceChildren(h("p", "fmw-muted fmw-card-hint", examplesHint(layer)));
      return;
    }
    this.examples.replaceChildren(h("span", "fmw-muted", "loading dataset examples…"));
    const memo = memoOf<ExampleSet>(this.store, "examples");
    remember(memo, key, () =>
      this.store
        .ask((request_id) => ({
          type: "get_examples",
          layer,
          channel: f,
          request_id,
          version: this.store.version,
        }))
        .then((r) => decodeExamples(r.msg, r.buffers)),
    ).then(
      (ex) => {
        if (this.shown === key) this.showExamples(ex, summary);
      },
      (e) => {
        if (this.shown !== key || e instanceof StaleError) return;
        const msg = e instanceof Error ? e.message : String(e);
        this.examples.replaceChildren(h("p", "fmw-error fmw-card-error", msg));
      },
    );
  }

  private showExamples(ex: ExampleSet, summary: ExamplesSummary): void {
    const nodes: HTMLElement[] = [];
    const [lo, hi] = patchRange(ex.patches);
    const zoom = patchZoom(
      ex.boxes ? ex.boxes.flatMap((b) => b.map(([a, z]) => (z ?? 0) - (a ?? 0))) : [1],
    );
    ex.values.forEach((v, j) => {
      const fig = h("figure", "fmw-card-tile fmw-card-example");
      const p = ex.patches[j];
      if (p) {
        const c = canvasOf(patchRgba(p, lo, hi), p.width, p.height, "fmw-card-patch");
        c.style.width = `${p.width * zoom}px`;
        c.style.height = `${p.height * zoom}px`;
        c.dataset.index = String(j);
        c.dataset.sample = String(ex.indices[j]);
        c.dataset.value = String(v);
        c.title = `sample ${ex.indices[j]} · cell (${(ex.positions[j] ?? []).join(", ")}) · receptive field ${p.height}×${p.width}`;
        fig.append(c);
      }
      fig.append(
        h("figcaption", "fmw-num", fmt3(v)),
        h("figcaption", "fmw-muted fmw-num", `#${ex.indices[j]}`),
      );
      nodes.push(fig);
    });
    const n = summary.num_samples ?? ex.numSamples;
    const what =
      ex.patches.length > 0
        ? `top ${ex.values.length} of ${n} samples: the input patch each filter cell sees (its exact receptive field, ×${zoom}), its value and sample index`
        : `top ${ex.values.length} of ${n} samples (values and sample indices; the examples were saved without their inputs)`;
    const note = h("p", "fmw-muted fmw-card-note", what);
    const strip = h("div", "fmw-card-strip");
    strip.append(...nodes);
    this.examples.replaceChildren(strip, note);
    this.examples.dataset.count = String(ex.values.length);
    this.examples.dataset.lo = String(lo);
    this.examples.dataset.hi = String(hi);
    this.examples.dataset.zoom = String(zoom);
  }

  // ---- feature visualisation -------------------------------------------------------------

  private showVis(layer: string, f: number, key: string): void {
    const hit = memoOf<FilterImage>(this.store, "filter_image").get(key);
    this.visFigure.replaceChildren();
    delete this.vis.dataset.ready;
    this.visStatus.textContent = "";
    this.visButton.hidden = false;
    this.visButton.disabled = false;
    if (hit) this.followVis(hit, layer, f, key);
  }

  private askVis(): void {
    const t = this.target();
    if (!t) return;
    const key = JSON.stringify([t.layer, t.filter]);
    const memo = memoOf<FilterImage>(this.store, "filter_image");
    const p = remember(memo, key, () =>
      this.store
        .ask(
          (request_id) => ({
            type: "get_filter_image",
            layer: t.layer,
            filter: t.filter,
            request_id,
            version: this.store.version,
          }),
          VIS_TIMEOUT_MS,
        )
        .then((r) => decodeFilterImage(r.msg, r.buffers)),
    );
    this.followVis(p, t.layer, t.filter, key);
  }

  private followVis(p: Promise<FilterImage>, layer: string, f: number, key: string): void {
    this.visBusy = true;
    this.visButton.disabled = true;
    this.visStatus.textContent = "computing… (the kernel runs gradient ascent)";
    this.showProgress();
    p.then(
      (img) => {
        if (this.shown !== key) return;
        this.visBusy = false;
        this.visButton.hidden = true;
        const c = visCanvas(img);
        const cap = h("figcaption", "fmw-muted", visCaption(img, layer, f));
        this.visFigure.replaceChildren(c, cap);
        this.visStatus.textContent = "";
        this.vis.dataset.kind = img.kind;
        this.vis.dataset.ready = "1";
      },
      (e) => {
        if (this.shown !== key) return;
        this.visBusy = false;
        this.visButton.disabled = false;
        if (e instanceof StaleError) {
          this.visStatus.textContent = "";
          return;
        }
        this.visStatus.textContent = e instanceof Error ? e.message : String(e);
        this.visStatus.classList.add("fmw-error");
      },
    );
    this.visStatus.classList.remove("fmw-error");
  }

  /** The kernel's progress on a feature visualisation, while this card waits for one. */
  private showProgress(): void {
    if (!this.visBusy) return;
    const st = this.model.get("status");
    if (st && st.phase === "visualize") {
      this.visStatus.textContent = statusText(st) ?? "";
      this.visStatus.dataset.progress = `${st.done}/${st.total}`;
    }
  }

  dispose(): void {
    this.d.dispose();
  }
}
