/**
 * The input panel's gradient overlay: a menu (none / Grad-CAM / saliency / effective
 * receptive field of the hovered cell) synced with the `overlay` trait both ways, the class
 * explained (the `class_index` trait; named from `class_labels` when given) with a field to
 * pick it, the overlay painted over the input image (one canvas pixel per input pixel,
 * colour and opacity from the value) and its legend.
 *
 * Requests (`get_overlay`) never block: one is in flight at a time and only the newest wish
 * is sent after it; a reply for anything but the current wish is dropped (as are replies of
 * an older `data_version`, by the Store). The effective RF follows the `hover` trait (the
 * hovered cell, from the grid or from Python), debounced; the hover's exact receptive field
 * stays outlined above it, so the one bounds the other.
 */
import type { AnyModel } from "@anywidget/types";
import { namedLut } from "../colormap";
import { ctx2d, Disposer, h } from "../dom";
import { fmt3 } from "../format";
import { decodeOverlay, type Overlay, overlayRgba } from "../model/explain";
import { StaleError, type Store } from "../model/store";
import { layerSpecs, onTrait, viewMode } from "../model/traits";
import type { Hover, LayerSpec, Traits } from "../types";
import type { InputView } from "./input";
import { paintBar } from "./legend";

export const OVERLAY_MODES = ["none", "grad_cam", "saliency", "erf"] as const;
export type OverlayMode = (typeof OVERLAY_MODES)[number];
const LABELS: Record<OverlayMode, string> = {
  none: "overlay: none",
  grad_cam: "overlay: Grad-CAM",
  saliency: "overlay: saliency",
  erf: "overlay: effective RF (hover)",
};
export const OVERLAY_LUT = "inferno";
/** Wait this long on a hovered cell before asking for its effective receptive field. */
export const ERF_DEBOUNCE_MS = 120;

/** The `overlay` trait ("none" when it is not a known mode). */
export function overlayMode(model: AnyModel<Traits>): OverlayMode {
  const m = model.get("overlay");
  return OVERLAY_MODES.includes(m as OverlayMode) ? (m as OverlayMode) : "none";
}

/** How many classes the model scores: the last layer's length when it outputs a vector. */
export function classCount(layers: readonly LayerSpec[]): number | null {
  const last = layers[layers.length - 1];
  if (!last || last.spatial || last.shape.length !== 1) return null;
  const n = last.shape[0];
  return typeof n === "number" && n > 0 ? n : null;
}

/** An error text for a class index that cannot be explained, or null when it can. */
export function classError(value: unknown, count: number | null): string | null {
  if (value === null || value === undefined) return null;
  const ok = typeof value === "number" && Number.isInteger(value) && value >= 0;
  if (ok && (count === null || value < count)) return null;
  const want = count === null ? "an integer ≥ 0" : `an integer in 0…${count - 1}`;
  const classes = count === null ? "" : ` (the model scores ${count} classes)`;
  return `Expected a class index ${want}${classes}, received ${JSON.stringify(value)}.`;
}

/** The class named: "class 3 · cat" (the label when there is one). */
export function className(index: number, labels: unknown): string {
  const name = Array.isArray(labels) ? labels[index] : undefined;
  return typeof name === "string" && name ? `class ${index} · ${name}` : `class ${index}`;
}

/** What one overlay request asks for (its key tells replies apart). */
interface Wish {
  key: string;
  body: Record<string, unknown>;
}

export class ExplainPanel {
  readonly el = h("div", "fmw-explain");
  /** Drawn between the image and the outlines of the input view. */
  readonly heat = h("canvas", "fmw-heat");
  private readonly mode = h("select", "fmw-overlay-mode");
  private readonly classBox = h("input", "fmw-class-index");
  private readonly info = h("div", "fmw-explain-info");
  private readonly legend = h("div", "fmw-explain-legend");
  private readonly bar = h("canvas");
  private readonly ticks = h("div", "fmw-legend-ticks");
  private readonly d = new Disposer();
  private wish: Wish | null = null;
  private inFlight: string | null = null;
  private shownKey: string | null = null;
  private erfTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
    input: InputView,
  ) {
    for (const m of OVERLAY_MODES) {
      const o = h("option", "", LABELS[m]);
      o.value = m;
      this.mode.append(o);
    }
    this.mode.title = "what the colours over the input show (computed by the kernel)";
    this.classBox.type = "number";
    this.classBox.min = "0";
    this.classBox.step = "1";
    this.classBox.placeholder = "top";
    this.classBox.title = "the class explained (empty: the top prediction)";
    this.classBox.setAttribute("aria-label", "class index");
    const classLabel = h("label", "fmw-class-pick", "class ");
    classLabel.append(this.classBox);
    const bar = h("div", "fmw-explain-bar");
    bar.append(this.mode, classLabel);
    this.info.setAttribute("aria-live", "polite");
    this.bar.width = 256;
    this.bar.height = 1;
    paintBar(this.bar, namedLut(OVERLAY_LUT));
    this.legend.append(this.bar, this.ticks);
    this.el.append(bar, this.info, this.legend);
    this.heat.hidden = true;
    this.heat.setAttribute("aria-hidden", "true");
    input.el.insertBefore(this.heat, input.el.children[1] ?? null);
    this.d.listen(this.mode, "change", () => {
      this.model.set("overlay", this.mode.value);
      this.model.save_changes();
      this.refresh();
    });
    this.d.listen(this.classBox, "change", () => this.pickClass());
    for (const name of ["overlay", "class_index", "class_labels", "view", "layers"]) {
      this.d.add(onTrait(model, name, () => this.refresh()));
    }
    this.d.add(onTrait(model, "hover", () => this.onHover()));
    this.d.add(this.store.on("invalidate", () => this.refresh()));
    this.refresh();
  }

  /** The field was edited: an empty field is the top prediction; a bad number an error. */
  private pickClass(): void {
    const text = this.classBox.value.trim();
    const value = text === "" ? null : Number(text);
    const err = classError(value, classCount(layerSpecs(this.model)));
    if (err) {
      this.fail(err);
      return;
    }
    this.model.set("class_index", value);
    this.model.save_changes();
    this.refresh();
  }

  /** Re-reads the traits and asks for the overlay they describe (if not shown already). */
  refresh(): void {
    const mode = overlayMode(this.model);
    this.mode.value = mode;
    const ci = this.model.get("class_index");
    if (document.activeElement !== this.classBox) {
      this.classBox.value = typeof ci === "number" ? String(ci) : "";
    }
    const classUsed = mode === "grad_cam" || mode === "saliency";
    this.classBox.disabled = !classUsed;
    this.el.dataset.mode = mode;
    if (mode === "none") {
      this.wish = null;
      this.clear("");
      return;
    }
    if (viewMode(this.model) !== "grid") return; // the input panel is hidden
    if (classUsed) {
      const err = classError(ci, classCount(layerSpecs(this.model)));
      if (err) {
        this.fail(err);
        return;
      }
      this.want({
        key: JSON.stringify([this.store.version, mode, ci ?? null]),
        body: { type: "get_overlay", mode, class_index: ci ?? null },
      });
      return;
    }
    this.onHover(true);
  }

  /** The hovered cell changed: in ERF mode, ask for its effective receptive field. */
  private onHover(now = false): void {
    if (overlayMode(this.model) !== "erf" || viewMode(this.model) !== "grid") return;
    if (this.erfTimer) clearTimeout(this.erfTimer);
    this.erfTimer = null;
    const hv = this.model.get("hover") as Hover | null;
    if (!hv) {
      this.wish = null;
      this.clear("hover a cell of a map: its effective receptive field is drawn here");
      return;
    }
    const wish: Wish = {
      key: JSON.stringify([this.store.version, "erf", hv.layer, hv.filter, hv.row, hv.col]),
      body: {
        type: "get_overlay",
        mode: "erf",
        layer: hv.layer,
        filter: hv.filter,
        row: hv.row,
        col: hv.col,
      },
    };
    if (wish.key === this.wish?.key) return;
    this.wish = wish;
    const go = () => this.want(wish);
    if (now) go();
    else this.erfTimer = setTimeout(go, ERF_DEBOUNCE_MS);
  }

  private want(wish: Wish): void {
    this.wish = wish;
    if (wish.key === this.shownKey) return;
    this.info.textContent = "computing…";
    this.el.dataset.pending = "1";
    this.send();
  }

  /** Sends the current wish unless a request is in flight (then it goes after it). */
  private send(): void {
    const wish = this.wish;
    if (!wish || this.inFlight !== null || wish.key === this.shownKey) return;
    this.inFlight = wish.key;
    const version = this.store.version;
    this.store
      .ask((request_id) => ({ ...wish.body, request_id, version }))
      .then(
        (r) => {
          const ov = decodeOverlay(r.msg, r.buffers);
          if (this.wish?.key === wish.key) this.show(ov, wish.key);
        },
        (e) => {
          if (e instanceof StaleError || this.wish?.key !== wish.key) return;
          this.fail(e instanceof Error ? e.message : String(e));
        },
      )
      .finally(() => {
        this.inFlight = null;
        this.send();
      });
  }

  private show(ov: Overlay, key: string): void {
    this.shownKey = key;
    delete this.el.dataset.pending;
    delete this.el.dataset.error;
    this.info.classList.remove("fmw-error");
    this.heat.width = ov.width;
    this.heat.height = ov.height;
    const ctx = ctx2d(this.heat);
    if (ctx) {
      const img = ctx.createImageData(ov.width, ov.height);
      img.data.set(overlayRgba(ov.values, namedLut(OVERLAY_LUT)));
      ctx.putImageData(img, 0, 0);
    }
    this.heat.hidden = false;
    const ds = this.heat.dataset;
    ds.mode = ov.mode;
    ds.peak = String(ov.peak);
    for (const k of ["class", "layer", "row", "col", "filter"]) delete ds[k];
    if (ov.classIndex !== null) ds.class = String(ov.classIndex);
    if (ov.layer !== null) ds.layer = ov.layer;
    if (ov.cell) {
      ds.row = String(ov.cell.row);
      ds.col = String(ov.cell.col);
      if (ov.cell.filter !== null) ds.filter = String(ov.cell.filter);
    }
    this.info.textContent = this.describe(ov);
    this.legend.hidden = false;
    this.ticks.replaceChildren(h("span", "fmw-num", "0"), h("span", "fmw-num", fmt3(ov.peak)));
    this.legend.title = "opacity and colour: the value divided by its peak";
  }

  private describe(ov: Overlay): string {
    if (ov.mode === "erf" && ov.cell) {
      const f = ov.cell.filter === null ? "" : ` filter ${ov.cell.filter}`;
      return `effective receptive field of ${ov.cell.layer}${f} (${ov.cell.row}, ${ov.cell.col}): |∂cell/∂input|, inside its exact field (white)`;
    }
    const what = ov.mode === "grad_cam" ? "Grad-CAM" : `saliency (${ov.method ?? "gradient"})`;
    const top = this.model.get("class_index") == null ? " (top prediction)" : "";
    const cls =
      ov.classIndex === null
        ? ""
        : ` of ${className(ov.classIndex, this.model.get("class_labels"))}${top}`;
    const at = ov.mode === "grad_cam" && ov.layer ? ` at ${ov.layer}` : "";
    const zero =
      ov.peak === 0
        ? ov.mode === "grad_cam"
          ? ": zero everywhere (no map of this layer raises the class score here)"
          : ": zero everywhere"
        : "";
    return `${what}${cls}${at}${zero}`;
  }

  private clear(text: string): void {
    this.shownKey = null;
    this.heat.hidden = true;
    this.legend.hidden = true;
    delete this.el.dataset.pending;
    delete this.el.dataset.error;
    this.info.classList.remove("fmw-error");
    this.info.textContent = text;
  }

  private fail(message: string): void {
    this.clear(message);
    this.wish = null;
    this.info.classList.add("fmw-error");
    this.el.dataset.error = "1";
  }

  dispose(): void {
    if (this.erfTimer) clearTimeout(this.erfTimer);
    this.d.dispose();
  }
}
