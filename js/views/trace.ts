/**
 * The trace of one cell: conv (pre-activation) → activation → pooling window (winner marked)
 * → pooled value, each with its number and a small map; the conv arithmetic; the input patch.
 */
import { type ColorRange, type Lut, mapToRgba } from "../colormap";
import { ctx2d, h } from "../dom";
import { type CellAt, cellText, fmt3, windowText } from "../format";
import { magnitude } from "../stats";
import type {
  ConvArithmetic,
  Hover,
  LayerData,
  LayerSpec,
  TraceMsg,
  TraceStep,
  Window,
} from "../types";
import { legendTicks, paintBar } from "./legend";
import { sliceOf } from "./slices";
import { stepperFor } from "./stepper";

const MINI = 96;
/** Outline of the clicked cell where the chain shows another one (the max-pool winner). */
export const CLICKED_COLOR = "#7cff4f";

export interface TraceDeps {
  /** Layer data for a step's mini map (may request it). */
  data(layer: string, pre: boolean): Promise<LayerData>;
  style(d: LayerData, f: number): { range: ColorRange; lut: Lut };
  /** Name of the layer feeding a conv layer (its first input), if known. */
  inputOf?(layer: string): string | null;
}

/** Whether step i shows a pre-activation map (explicit flag, or a fused conv followed by its own activation). */
export function stepIsPre(steps: readonly TraceStep[], i: number): boolean {
  const s = steps[i];
  if (!s) return false;
  if (typeof s.pre_activation === "boolean") return s.pre_activation;
  return steps[i + 1]?.layer === s.layer;
}

/** Name of the layer feeding `layer` (its first input, by index), or null. */
export function inputLayerName(layers: readonly LayerSpec[], layer: string): string | null {
  const spec = layers.find((l) => l?.name === layer);
  const i = Array.isArray(spec?.inputs) ? spec.inputs[0] : undefined;
  if (typeof i !== "number" || !Number.isInteger(i)) return null;
  const src = layers.find((l) => l?.index === i) ?? layers[i];
  return typeof src?.name === "string" ? src.name : null;
}

/**
 * Where the clicked cell is not the chain's cell of step `s` (same layer and filter), the
 * clicked cell; null when the step is elsewhere or shows the clicked cell itself.
 */
export function clickedElsewhere(clicked: Hover | undefined, s: TraceStep): Hover | null {
  if (!clicked || clicked.layer !== s.layer || clicked.filter !== s.filter) return null;
  const same = clicked.row === s.row && clicked.col === s.col && clicked.depth === s.depth;
  return same ? null : clicked;
}

export interface ConvRow {
  label: string;
  value: number;
  window?: number[][];
  kernel?: number[][];
}

/**
 * The rows of the conv arithmetic: shown terms, the rest, the bias (they sum to the total).
 * Each term is named by the input map it reads: "pool1 · map 6" (`source` = the input layer).
 */
export function convRows(conv: ConvArithmetic, source?: string | null): ConvRow[] {
  const prefix = source ? `${source} · ` : "";
  const rows: ConvRow[] = conv.terms.map((t) => {
    const row: ConvRow = { label: `${prefix}map ${t.channel}`, value: t.contribution };
    if (t.window) row.window = t.window;
    if (t.kernel) row.kernel = t.kernel;
    return row;
  });
  const shown = conv.terms.reduce((a, t) => a + t.contribution, 0);
  const rest = typeof conv.others === "number" ? conv.others : conv.total - conv.bias - shown;
  const nOthers =
    typeof conv.n_channels === "number" ? conv.n_channels - conv.terms.length : undefined;
  if (
    nOthers !== undefined ? nOthers > 0 : Math.abs(rest) > 1e-6 * Math.max(1, Math.abs(conv.total))
  ) {
    const label =
      nOthers !== undefined ? `${nOthers} other map${nOthers === 1 ? "" : "s"}` : "other maps";
    rows.push({ label, value: rest });
  }
  rows.push({ label: "bias", value: conv.bias });
  return rows;
}

/** Largest window/kernel edge shown as numbers. */
const MAX_NUMBER_GRID = 5;

function numberGrid(m: number[][], cls: string): HTMLElement {
  const t = h("table", `fmw-numgrid ${cls}`);
  for (const r of m) {
    const tr = h("tr");
    for (const v of r) tr.append(h("td", "", fmt3(v)));
    t.append(tr);
  }
  return t;
}

export class TraceView {
  readonly el = h("div", "fmw-trace fmw-pane");
  private token = 0;
  /** The model's input is a time series: cells read "step t", windows "steps a–b". */
  series = false;

  constructor(private readonly deps: TraceDeps) {
    this.el.tabIndex = -1;
    this.el.setAttribute("aria-live", "polite");
  }

  clear(): void {
    this.token++;
    this.el.replaceChildren();
  }

  pending(text: string): void {
    this.token++;
    this.el.tabIndex = 0;
    this.el.replaceChildren(h("span", "fmw-muted", text));
  }

  failed(message: string): void {
    this.token++;
    this.el.tabIndex = 0;
    this.el.replaceChildren(h("span", "fmw-error", `trace: ${message}`));
  }

  show(t: TraceMsg): void {
    const token = ++this.token;
    this.el.tabIndex = 0;
    const steps = t.steps ?? [];
    const last = steps[steps.length - 1];
    const at = (c: CellAt) => cellText(c, this.series);
    const win = (w: Window) => windowText(w, this.series);
    const head = h(
      "div",
      "fmw-trace-head",
      last
        ? `Trace of ${last.layer} · filter ${last.filter} · ${at(last)} = ${fmt3(last.value)}`
        : "Trace",
    );
    const volume = steps.some((s) => s.depth !== undefined);
    const cells = this.series ? "time steps" : volume ? "(depth, row, col)" : "(row, col)";
    if (last) head.append(h("span", "fmw-muted", ` — step by step; cells are ${cells}`));
    const nodes: HTMLElement[] = [head];
    if (typeof t.note === "string" && t.note) nodes.push(h("div", "fmw-trace-note", t.note));
    // the animation first: in view at 1280×800 (it steps through 1-D and 2-D windows only)
    const stepper = volume ? null : stepperFor(t, this.deps, this.series);
    if (stepper) nodes.push(stepper.el);
    const clicked = t.clicked;
    const chain = h("div", "fmw-trace-steps");
    const minis: Mini[] = [];
    steps.forEach((s, i) => {
      if (i > 0) chain.append(h("span", "fmw-trace-arrow", "→"));
      const card = h("div", "fmw-trace-step");
      card.dataset.layer = s.layer;
      const pre = stepIsPre(steps, i);
      const kind = pre
        ? `${s.kind} (pre-activation)`
        : s.activation
          ? `${s.kind} (${s.activation})`
          : s.kind;
      card.append(
        h("span", "fmw-trace-name", s.layer),
        h("span", "fmw-muted", kind),
        h("span", "fmw-num", `filter ${s.filter} · ${at(s)}`),
        h("span", "fmw-num", `value ${fmt3(s.value)}`),
      );
      const other = clickedElsewhere(clicked, s);
      if (clicked?.layer === s.layer) card.dataset.clicked = other ? "elsewhere" : "here";
      if (other) {
        const value = pre ? "" : ` = ${fmt3(other.value)}`;
        card.append(h("span", "fmw-trace-clicked", `you clicked ${at(other)}${value}`));
      }
      if (s.window) card.append(h("span", "fmw-muted", `window ${win(s.window)}`));
      if (s.argmax) card.append(h("span", "fmw-muted", `winner ${at(s.argmax)}`));
      const mini = h("canvas", "fmw-trace-map");
      card.append(mini);
      chain.append(card);
      minis.push({
        canvas: mini,
        step: s,
        next: steps[i + 1],
        other,
        data: this.deps.data(s.layer, pre),
      });
    });
    const scale = h("div", "fmw-trace-scale");
    scale.hidden = true;
    void this.paintMinis(token, minis, scale);
    const rf = t.receptive_field;
    nodes.push(chain, scale);
    if (rf) {
      const moved = steps.find((s) => clickedElsewhere(clicked, s) && s.receptive_field);
      const of = moved ? "of the clicked cell " : "";
      const mark = this.series ? "orange span on the input" : "orange box on the image";
      let text = `input ${this.series ? "span" : "patch"} ${of}(${mark}): ${win(rf)}`;
      if (moved?.receptive_field) {
        text += `; the chain's cell ${at(moved)} sees ${win(moved.receptive_field)}`;
      }
      nodes.push(h("div", "fmw-muted", text));
    }
    if (t.conv) nodes.push(this.conv(t.conv));
    this.el.replaceChildren(...nodes);
  }

  /**
   * Paints the steps' maps once all have arrived, on ONE colour range: the largest magnitude
   * of the steps' own ranges (by the range mode), so a value has one colour along the chain.
   */
  private async paintMinis(token: number, minis: Mini[], scale: HTMLElement): Promise<void> {
    const got = await Promise.allSettled(minis.map((m) => m.data));
    if (token !== this.token) return;
    const styles: { range: ColorRange; lut: Lut }[] = [];
    got.forEach((g, i) => {
      const m = minis[i] as Mini;
      if (g.status === "rejected" || m.step.filter < 0 || m.step.filter >= g.value.channels) {
        m.canvas.remove();
        return;
      }
      styles.push(this.deps.style(g.value, m.step.filter));
    });
    if (styles.length === 0) return;
    const shared = sharedStyle(styles);
    got.forEach((g, i) => {
      const m = minis[i] as Mini;
      if (g.status !== "fulfilled" || !m.canvas.isConnected) return;
      // each map keeps its own table (a non-negative map: the positive half), on the one m
      const own = this.deps.style(g.value, m.step.filter);
      const m2 = shared.range.hi;
      const div = own.range.diverging;
      const style = { range: { lo: div ? -m2 : 0, hi: m2, diverging: div }, lut: own.lut };
      this.mini(m.canvas, g.value, style, m.step, m.next, m.other);
    });
    fillScale(scale, shared.range, shared.lut);
    scale.hidden = false;
  }

  private mini(
    canvas: HTMLCanvasElement,
    d: LayerData,
    style: { range: ColorRange; lut: Lut },
    s: TraceStep,
    next?: TraceStep,
    clicked?: Hover | null,
  ): void {
    if (s.depth !== undefined) d = sliceOf(d, s.depth); // a 3-D map: the step's own slice
    const { height: H, width: W } = d;
    if (s.filter < 0 || s.filter >= d.channels) return;
    const k = Math.max(1, Math.floor(MINI / Math.max(H, W)));
    canvas.width = W * k;
    canvas.height = H * k;
    if (H === 1 && W > 1) canvas.style.height = "12px"; // a time series' map: a strip
    const ctx = ctx2d(canvas);
    if (!ctx) return;
    const img = ctx.createImageData(W * k, H * k);
    mapToRgba(d.values, s.filter * H * W, W, H, style.range, style.lut, {
      out: img.data,
      offset: 0,
      stride: W * k * 4,
      scale: k,
    });
    ctx.putImageData(img, 0, 0);
    ctx.lineWidth = 1;
    // the next step's window lives in this step's map: outline it, mark the winner
    if (next?.window && next.filter === s.filter) {
      const w = next.window;
      ctx.strokeStyle = "#00e5ff";
      ctx.strokeRect(
        w.col0 * k + 0.5,
        w.row0 * k + 0.5,
        (w.col1 - w.col0) * k - 1,
        (w.row1 - w.row0) * k - 1,
      );
      if (next.argmax) {
        ctx.fillStyle = "rgba(0,229,255,0.6)";
        ctx.fillRect(next.argmax.col * k, next.argmax.row * k, k, k);
      }
    }
    ctx.strokeStyle = "#ff8c00";
    ctx.strokeRect(s.col * k - 0.5, s.row * k - 0.5, k + 1, k + 1);
    if (clicked) {
      ctx.strokeStyle = CLICKED_COLOR;
      ctx.setLineDash([2, 1]);
      ctx.strokeRect(clicked.col * k - 0.5, clicked.row * k - 0.5, k + 1, k + 1);
      ctx.setLineDash([]);
    }
  }

  private conv(conv: ConvArithmetic): HTMLElement {
    const box = h("div", "fmw-conv");
    const source = this.deps.inputOf?.(conv.layer) ?? null;
    const maps = source ? `the maps of ${source}` : "the input maps";
    box.append(
      h(
        "div",
        "fmw-muted",
        `${conv.layer} · filter ${conv.filter ?? ""} = sum over ${maps} of (input window × kernel weights), + bias; largest terms first`,
      ),
    );
    const table = h("table");
    const head = h("tr", "fmw-conv-head");
    head.append(
      h("th", "", "input map"),
      h("th", "", "window × kernel ="),
      h("th", "", "contribution"),
    );
    table.append(head);
    for (const r of convRows(conv, source)) {
      const tr = h("tr");
      const how = h("td", "fmw-conv-how");
      const small = (m?: number[][]) =>
        m && m.length > 0 && m.length <= MAX_NUMBER_GRID && (m[0]?.length ?? 0) <= MAX_NUMBER_GRID;
      if (small(r.window) && small(r.kernel)) {
        how.append(
          numberGrid(r.window as number[][], "fmw-window"),
          h("span", "fmw-op", "×"),
          numberGrid(r.kernel as number[][], "fmw-kernel"),
          h("span", "fmw-op", "="),
        );
      }
      tr.append(h("td", "", r.label), how, h("td", "fmw-num", fmt3(r.value)));
      table.append(tr);
    }
    const total = h("tr", "fmw-total");
    total.append(
      h("td", "", "= pre-activation"),
      h("td", ""),
      h("td", "fmw-num", fmt3(conv.total)),
    );
    table.append(total);
    box.append(table);
    return box;
  }
}

/** One step's thumbnail, waiting for its layer. */
interface Mini {
  canvas: HTMLCanvasElement;
  step: TraceStep;
  next: TraceStep | undefined;
  other: Hover | null;
  data: Promise<LayerData>;
}

/**
 * One style for a whole chain: the largest magnitude of the steps' ranges; diverging (and
 * the diverging table) when any step is, else the sequential one.
 */
export function sharedStyle(styles: readonly { range: ColorRange; lut: Lut }[]): {
  range: ColorRange;
  lut: Lut;
} {
  let m = 0;
  let pick = styles[0] as { range: ColorRange; lut: Lut };
  for (const s of styles) {
    m = Math.max(m, magnitude(s.range.lo, s.range.hi));
    if (s.range.diverging && !pick.range.diverging) pick = s;
  }
  const diverging = pick.range.diverging;
  return { range: { lo: diverging ? -m : 0, hi: m, diverging }, lut: pick.lut };
}

/** The chain's colour bar with lo (0) hi numbers. */
function fillScale(el: HTMLElement, range: ColorRange, lut: Lut): void {
  const { lo, hi, labels } = legendTicks(range);
  el.dataset.lo = String(lo);
  el.dataset.hi = String(hi);
  el.title = "one colour scale for every map of the trace";
  const bar = h("canvas");
  paintBar(bar, lut);
  const ticks = h("div", "fmw-legend-ticks");
  ticks.append(...labels.map((t) => h("span", "fmw-num", t)));
  el.replaceChildren(
    h("span", "fmw-muted", "colours of the maps above (one scale for all)"),
    bar,
    ticks,
  );
}
