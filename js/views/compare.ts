/**
 * Compare two inputs: per layer, the relative L2 change of the whole map from input A (the
 * widget's) to input B (`w.compare(x2)`, or A shifted by the "shift by (dy, dx)" control), as a
 * bar chart; for the chosen layer, A's and B's maps side by side with their difference.
 */
import type { AnyModel } from "@anywidget/types";
import { type ColorRange, mapToRgba, namedLut } from "../colormap";
import { ctx2d, h } from "../dom";
import { fmt3 } from "../format";
import { StaleError, type Store } from "../model/store";
import { onTrait } from "../model/traits";
import type { Traits } from "../types";
import { DIVERGING_MAP, SEQUENTIAL_MAP } from "./paint";

export interface LayerChange {
  layer: string;
  kind: string;
  shape: number[];
  change: number | null;
}

export interface Comparison {
  label: string;
  shift: [number, number] | null;
  changes: LayerChange[];
  version: number;
}

/** The `comparison` trait, or null when it is missing or malformed. */
export function comparisonOf(model: AnyModel<Traits>): Comparison | null {
  const c = model.get("comparison") as Comparison | null | undefined;
  return c && Array.isArray(c.changes) ? c : null;
}

/** "12.3%" for a relative change; "∞" when A is all zero but B is not. */
export function fmtChange(c: number | null): string {
  if (c === null || !Number.isFinite(c)) return "∞";
  const t = (100 * c).toPrecision(3);
  return `${t.includes(".") && !t.includes("e") ? t.replace(/\.?0+$/, "") : String(Number(t))}%`;
}

/**
 * One sentence per pooling layer: does it change less than the layer it pools (relatively)?
 * Said from the numbers, so it is true of this input and this shift.
 */
export function poolingNotes(changes: readonly LayerChange[]): string[] {
  const out: string[] = [];
  changes.forEach((x, i) => {
    const prev = changes[i - 1];
    if (x.kind !== "pooling" || !prev || x.change === null || prev.change === null) return;
    const verb = x.change < prev.change ? "less" : "not less";
    out.push(
      `${x.layer} changes ${verb} than ${prev.layer} (${fmtChange(x.change)} vs ${fmtChange(prev.change)})`,
    );
  });
  return out;
}

/** Pixels per cell for a map to be about `target` pixels on its longer side. */
function cellPx(h: number, w: number, target: number): number {
  return Math.max(1, Math.floor(target / Math.max(h, w)));
}

const MAP_PX = 72;
/** How long the shift control waits for the kernel's comparison before saying none came. */
export const NO_ANSWER_MS = 20_000;

export class CompareView {
  readonly el = h("div", "fmw-compare");
  private readonly head = h("div", "fmw-cmp-head");
  private readonly chart = h("div", "fmw-cmp-chart");
  private readonly maps = h("div", "fmw-cmp-maps");
  private readonly dy = h("input", "fmw-cmp-dy");
  private readonly dx = h("input", "fmw-cmp-dx");
  private layer = "";
  private token = 0;
  private readonly off: (() => void)[] = [];

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
  ) {
    const control = h("div", "fmw-cmp-shift");
    for (const [input, name] of [
      [this.dy, "dy"],
      [this.dx, "dx"],
    ] as const) {
      input.type = "number";
      input.step = "1";
      input.value = name === "dx" ? "1" : "0";
      input.title = name === "dy" ? "rows down (negative: up)" : "columns right (negative: left)";
    }
    const go = h("button", "fmw-cmp-go", "compare");
    go.type = "button";
    go.addEventListener("click", () => this.shift());
    control.append(h("span", "", "B = A shifted by dy"), this.dy, h("span", "", "dx"), this.dx, go);
    const body = h("div", "fmw-cmp-body");
    body.append(this.chart, this.maps);
    this.el.append(control, this.head, body);
    this.off.push(onTrait(model, "comparison", () => this.render()));
  }

  dispose(): void {
    for (const f of this.off.splice(0)) f();
  }

  /** The shift control: asks the kernel to compare A with A shifted by (dy, dx). */
  private shift(): void {
    const dy = Math.trunc(Number(this.dy.value) || 0);
    const dx = Math.trunc(Number(this.dx.value) || 0);
    this.model.set("compare_shift", null); // the same shift again still recomputes
    this.model.save_changes();
    this.model.set("compare_shift", [dy, dx]);
    this.model.save_changes();
    this.head.textContent = `comparing with A shifted by (${dy}, ${dx})…`;
    const asked = comparisonOf(this.model)?.version ?? 0;
    setTimeout(() => {
      if (!this.el.isConnected || (comparisonOf(this.model)?.version ?? 0) !== asked) return;
      if (this.head.textContent?.startsWith("comparing with")) {
        this.head.textContent =
          "No kernel answered: a new input needs a running kernel (a static export cannot compute one).";
      }
    }, NO_ANSWER_MS);
  }

  render(): void {
    const c = comparisonOf(this.model);
    if (!c) {
      this.el.dataset.state = "empty";
      this.head.textContent =
        "Nothing compared yet: call w.compare(x2) in Python, or shift the input with the control above.";
      this.chart.replaceChildren();
      this.maps.replaceChildren();
      return;
    }
    this.el.dataset.state = "ready";
    this.el.dataset.version = String(c.version);
    if (c.shift) {
      this.dy.value = String(c.shift[0]);
      this.dx.value = String(c.shift[1]);
    }
    this.head.replaceChildren(
      h("b", "", "A"),
      h("span", "", ": the widget's input · "),
      h("b", "", "B"),
      h("span", "", `: ${c.label}. `),
      h(
        "span",
        "fmw-muted",
        "Bars: how much each layer's maps change, ‖B − A‖ / ‖A‖ over all its maps. Click a layer to see its maps.",
      ),
    );
    const names = c.changes.map((x) => x.layer);
    if (!names.includes(this.layer)) {
      const shown = String(this.model.get("layer") ?? "");
      this.layer = names.includes(shown) ? shown : (names[1] ?? names[0] ?? "");
    }
    this.renderChart(c);
    void this.renderMaps(c);
  }

  private renderChart(c: Comparison): void {
    const finite = c.changes.map((x) => x.change ?? 0).filter(Number.isFinite);
    const top = Math.max(1e-12, ...finite);
    const rows = c.changes.map((x) => {
      const row = h("button", "fmw-cmp-row");
      row.type = "button";
      row.dataset.layer = x.layer;
      row.dataset.kind = x.kind;
      row.dataset.change = String(x.change);
      row.setAttribute("aria-pressed", String(x.layer === this.layer));
      const bar = h("span", "fmw-cmp-bar");
      const frac = x.change === null || !Number.isFinite(x.change) ? 1 : x.change / top;
      bar.style.width = `${Math.max(1, Math.round(100 * frac))}%`;
      const track = h("span", "fmw-cmp-track");
      track.append(bar);
      const dims = x.shape.length >= 2 ? x.shape.join("×") : "";
      row.append(
        h("span", "fmw-cmp-name", x.layer),
        h("span", "fmw-muted fmw-cmp-kind", `${x.kind} ${dims}`),
        track,
        h("span", "fmw-num fmw-cmp-val", fmtChange(x.change)),
      );
      row.addEventListener("click", () => {
        this.layer = x.layer;
        this.render();
      });
      return row;
    });
    const notes = poolingNotes(c.changes).map((t) => h("div", "fmw-cmp-note", t));
    this.chart.replaceChildren(
      h("div", "fmw-muted", "relative change per layer (pooling layers in blue)"),
      ...rows,
      ...notes,
    );
  }

  /** A, B and B − A for the chosen layer's first maps, A and B on one colour scale. */
  private async renderMaps(c: Comparison): Promise<void> {
    const token = ++this.token;
    const layer = this.layer;
    if (!layer) return;
    this.maps.dataset.layer = "";
    let reply: Awaited<ReturnType<Store["ask"]>>;
    try {
      reply = await this.store.ask((request_id) => ({
        type: "get_compare",
        layer,
        start: 0,
        request_id,
        version: this.store.version,
      }));
    } catch (e) {
      if (token === this.token && !(e instanceof StaleError)) {
        this.maps.replaceChildren(h("span", "fmw-error", `compare: ${String(e)}`));
      }
      return;
    }
    if (token !== this.token) return;
    const m = reply.msg as {
      height: number;
      width: number;
      start: number;
      stop: number;
      channels: number;
      change: number | null;
    };
    const buf = reply.buffers[0] as DataView | ArrayBuffer | undefined;
    if (!buf) return;
    const bytes =
      buf instanceof DataView
        ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
        : new Uint8Array(buf);
    const all = new Float32Array(bytes.slice().buffer);
    const n = m.stop - m.start;
    const size = m.height * m.width;
    const a = all.subarray(0, n * size);
    const b = all.subarray(n * size, 2 * n * size);
    const diff = new Float32Array(n * size);
    let mab = 0;
    let md = 0;
    let neg = false;
    for (let i = 0; i < n * size; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      diff[i] = y - x;
      if (Number.isFinite(x)) mab = Math.max(mab, Math.abs(x));
      if (Number.isFinite(y)) mab = Math.max(mab, Math.abs(y));
      if (x < 0 || y < 0) neg = true;
      const d = diff[i] as number;
      if (Number.isFinite(d)) md = Math.max(md, Math.abs(d));
    }
    const abRange: ColorRange = { lo: neg ? -mab : 0, hi: mab, diverging: neg };
    const abLut = namedLut(neg ? DIVERGING_MAP : SEQUENTIAL_MAP);
    const dRange: ColorRange = { lo: -md, hi: md, diverging: true };
    const dLut = namedLut(DIVERGING_MAP);
    const k = cellPx(m.height, m.width, MAP_PX);
    const table = h("div", "fmw-cmp-grid");
    const draw = (vals: Float32Array, f: number, range: ColorRange, cls: string, lut = abLut) => {
      const cv = h("canvas", `fmw-cmp-map ${cls}`);
      cv.width = m.width * k;
      cv.height = m.height * k;
      cv.dataset.map = String(m.start + f);
      cv.dataset.lo = String(range.lo);
      cv.dataset.hi = String(range.hi);
      const ctx = ctx2d(cv);
      if (ctx) {
        const img = ctx.createImageData(cv.width, cv.height);
        mapToRgba(vals, f * size, m.width, m.height, range, lut, {
          out: img.data,
          offset: 0,
          stride: cv.width * 4,
          scale: k,
        });
        ctx.putImageData(img, 0, 0);
      }
      return cv;
    };
    for (let f = 0; f < n; f++) {
      const card = h("div", "fmw-cmp-card");
      const label = (text: string, cv: HTMLCanvasElement) => {
        const box = h("div", "fmw-cmp-cell");
        box.append(h("span", "fmw-muted", text), cv);
        return box;
      };
      card.append(
        label(`map ${m.start + f} · A`, draw(a, f, abRange, "fmw-cmp-a")),
        label("B", draw(b, f, abRange, "fmw-cmp-b")),
        label("B − A", draw(diff, f, dRange, "fmw-cmp-diff", dLut)),
      );
      table.append(card);
    }
    const more = m.channels > n ? ` (first ${n} of ${m.channels} maps)` : "";
    const title = h("div", "fmw-cmp-title", `${layer}${more} · change ${fmtChange(m.change)}`);
    const scales = h(
      "div",
      "fmw-muted fmw-num",
      `A and B: one scale, ${neg ? `−${fmt3(mab)} … ` : "0 … "}${fmt3(mab)}; B − A: −${fmt3(md)} (blue) … ${fmt3(md)} (red)`,
    );
    this.maps.dataset.layer = layer;
    this.maps.dataset.change = String(m.change);
    this.maps.replaceChildren(title, table, scales);
    void c;
  }
}

/** Styles of the compare view (appended to the widget's stylesheet). */
export const COMPARE_CSS = `
.fmw-compare{display:flex;flex-direction:column;gap:6px;padding:4px 0}
.fmw-cmp-shift{display:flex;gap:6px;align-items:center;flex-wrap:wrap;font-size:12px}
.fmw-cmp-shift input{width:4em;font:inherit}
.fmw-cmp-head{font-size:12px}
.fmw-cmp-body{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}
.fmw-cmp-chart{display:flex;flex-direction:column;gap:1px;flex:0 1 420px;min-width:280px;max-height:640px;overflow:auto;font-size:11px}
.fmw-cmp-row{display:grid;grid-template-columns:7em 9.5em 1fr 4.2em;gap:4px;align-items:center;border:0;background:none;padding:1px 2px;text-align:left;font:inherit;color:inherit;cursor:pointer}
.fmw-cmp-row[aria-pressed=true]{background:#fff3c4;color:#111}
.fmw-cmp-row[data-kind=pooling] .fmw-cmp-bar{background:#2b8cbe}
.fmw-cmp-name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-weight:600}
.fmw-cmp-kind{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.fmw-cmp-track{display:block;height:9px;background:var(--fmw-panel);border:1px solid var(--fmw-border)}
.fmw-cmp-bar{display:block;height:100%;background:#e6550d}
.fmw-cmp-val{text-align:right}
.fmw-cmp-maps{display:flex;flex-direction:column;gap:4px;font-size:12px;max-height:660px;overflow:auto;flex:1 1 520px}
.fmw-cmp-title{font-weight:600}
.fmw-cmp-grid{display:flex;flex-wrap:wrap;gap:6px 14px}
.fmw-cmp-card{display:flex;gap:4px}
.fmw-cmp-cell{display:flex;flex-direction:column;gap:1px;font-size:10px}
.fmw-cmp-note{margin-top:4px;padding-left:6px;border-left:3px solid #2b8cbe}
.fmw-cmp-map{image-rendering:pixelated;border:1px solid var(--fmw-border)}
`;
