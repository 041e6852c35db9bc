/**
 * What one step-through frame shows, built fresh per frame: the ledger of frames so far, the
 * detail beside the stage (window × kernel = products and their sum; the pool window's
 * values with the one looked at or the winner), and the stage canvas (one input map with
 * the kernel's exact taps, or the pooled map with its window and winner).
 */
import { mapToRgba } from "../colormap";
import { ctx2d, h } from "../dom";
import { cellText, fmt3 } from "../format";
import type { ConvArithmetic, LayerData, TraceStep } from "../types";
import type { Frame } from "./frames";
import { kernelLegend, labelled, numbers, type Style, TAP, WIN } from "./stepper-parts";

/** Largest kernel edge shown as numbers. */
const MAX_NUMBERS = 5;
/** Largest edge of the stage canvas (CSS px). */
const STAGE = 120;
/** Height of a time series' map on the stage (CSS px). */
const STRIP_H = 16;
/** Largest pool window edge shown as numbers. */
const MAX_POOL_NUMBERS = 7;

/** What a ledger row says a frame did (`series`: cells are time steps). */
function ledgerWhat(f: Frame, series: boolean): string {
  const at = f.cell ? cellText(f.cell, series) : "";
  switch (f.kind) {
    case "slide":
      return `window → ${at}`;
    case "term":
      return `map ${f.channel}`;
    case "others":
      return "other maps";
    case "scan":
    case "winner":
      return `${at}${f.kind === "winner" ? " wins" : ""}`;
    default:
      return f.kind;
  }
}

/**
 * The frames up to `now` in aligned columns: what each adds, and the running sum (`conv`) or
 * the max so far; `activation` names the activation frame; `series`: cells are time steps.
 */
export function ledgerRows(
  frames: readonly Frame[],
  now: number,
  conv: boolean,
  activation: string,
  series = false,
): HTMLElement[] {
  const head = h("tr");
  head.append(
    h("th", "", "step"),
    h("th", "", conv ? "adds" : "value"),
    h("th", "", conv ? "running sum" : "max so far"),
  );
  const rows: HTMLElement[] = [head];
  frames.forEach((f, k) => {
    if (k > now) return;
    const tr = h("tr");
    tr.dataset.partial = String(f.partial);
    tr.dataset.add = String(f.add);
    if (f.channel !== undefined) tr.dataset.channel = String(f.channel);
    tr.dataset.kind = f.kind;
    if (k === now) tr.className = "fmw-step-now";
    const add =
      f.kind === "slide"
        ? ""
        : f.kind === "activation"
          ? activation
          : conv && f.add >= 0
            ? `+${fmt3(f.add)}`
            : fmt3(f.add);
    tr.append(
      h("td", "", ledgerWhat(f, series)),
      h("td", "fmw-num", add),
      h("td", "fmw-num", fmt3(f.partial)),
    );
    rows.push(tr);
  });
  return rows;
}

function small(m: readonly (readonly number[])[], edge: number): boolean {
  return m.length <= edge && (m[0]?.length ?? 0) <= edge;
}

/** The slide frame's detail: the first map's kernel (when small) and what sliding means. */
export function slideDetail(
  conv: ConvArithmetic,
  kernelStyle: Style | null,
  series = false,
): HTMLElement[] {
  const nodes: HTMLElement[] = [];
  const first = conv.terms[0];
  const kernel = first?.kernel;
  if (first && kernel && small(kernel, MAX_NUMBERS)) {
    const table = numbers(kernel, "fmw-kernel", kernelStyle ?? undefined);
    nodes.push(labelled(`kernel for map ${first.channel}`, table));
  }
  nodes.push(
    h(
      "div",
      "fmw-muted",
      `the same weights at every position: one output ${series ? "step" : "cell"} per window`,
    ),
  );
  if (kernelStyle) nodes.push(kernelLegend(kernelStyle));
  return nodes;
}

const sum = (text: string) => h("div", "fmw-step-sum fmw-num", text);

/** A conv frame's detail: window × kernel = products and their sum, or the frame's sum. */
export function convDetail(
  conv: ConvArithmetic,
  f: Frame,
  windowStyle: Style | undefined,
  kernelStyle: Style | null,
): HTMLElement[] {
  const term = f.term !== undefined ? conv.terms[f.term] : undefined;
  if (term?.window && term.kernel) {
    const kernel = term.kernel;
    const eq = h("div", "fmw-step-eq");
    if (!small(kernel, MAX_NUMBERS)) {
      const size = `${kernel.length}×${kernel[0]?.length}`;
      eq.append(h("span", "fmw-muted", `${size} window × kernel: too many numbers to show`));
    } else {
      const products = term.window.map((r, a) => r.map((v, b) => v * (kernel[a]?.[b] ?? 0)));
      eq.append(
        labelled("window", numbers(term.window, "fmw-window", windowStyle)),
        h("span", "fmw-op", "×"),
        labelled("kernel", numbers(kernel, "fmw-kernel", kernelStyle ?? undefined)),
        h("span", "fmw-op", "="),
        labelled("products", numbers(products, "fmw-products")),
      );
    }
    const nodes: HTMLElement[] = [eq, sum(`Σ products = ${fmt3(term.contribution)}`)];
    if (kernelStyle) nodes.push(kernelLegend(kernelStyle));
    return nodes;
  }
  const before = fmt3(f.partial - f.add);
  if (f.kind === "others") return [sum(`${before} + ${fmt3(f.add)} = ${fmt3(f.partial)}`)];
  if (f.kind === "bias") return [sum(`${before} + bias ${fmt3(f.add)} = ${fmt3(f.partial)}`)];
  if (f.kind === "activation") return [sum(`${f.label} = ${fmt3(f.partial)}`)];
  return [];
}

/** The values of map `pool.filter` of `d` in the pool step's window, row by row. */
export function windowValues(pool: TraceStep, d: LayerData): number[][] {
  const w = pool.window;
  if (!w) return [];
  const base = pool.filter * d.height * d.width;
  const vals: number[][] = [];
  for (let r = w.row0; r < w.row1; r++) {
    const row: number[] = [];
    for (let c = w.col0; c < w.col1; c++) row.push(d.values[base + r * d.width + c] ?? Number.NaN);
    vals.push(row);
  }
  return vals;
}

/** A max-pool frame's detail: the window's values (when small), marking the cell looked at. */
export function poolDetail(pool: TraceStep, f: Frame, d: LayerData, style: Style): HTMLElement[] {
  const w = pool.window;
  const vals = windowValues(pool, d);
  const nodes: HTMLElement[] = [];
  if (w && small(vals, MAX_POOL_NUMBERS)) {
    const grid = numbers(vals, "fmw-pool-values", style);
    if (f.cell) {
      const td = grid.rows[f.cell.row - w.row0]?.cells[f.cell.col - w.col0];
      if (td) td.classList.add(f.kind === "winner" ? "fmw-step-winner" : "fmw-step-look");
    }
    nodes.push(labelled("the window's values", grid));
  }
  const text =
    f.kind === "winner" ? `pooled value = ${fmt3(pool.value)}` : `max so far ${fmt3(f.partial)}`;
  nodes.push(sum(text));
  return nodes;
}

/** Pixels per cell on the stage: `x` across, `y` down (a time series' strip is taller). */
export interface CellPx {
  x: number;
  y: number;
}

/**
 * Paints map `channel` of `d` into `stage`, enlarged; returns its pixels per cell (null:
 * none). A 1-D map (one row of time steps) is a strip twice the stage's width, STRIP_H tall.
 */
export function paintMap(
  stage: HTMLCanvasElement,
  d: LayerData,
  channel: number,
  style: Style,
): CellPx | null {
  const { height: H, width: W } = d;
  const strip = H === 1 && W > 1;
  const k = Math.max(1, Math.floor((strip ? 2 * STAGE : STAGE) / Math.max(H, W)));
  const ky = strip ? Math.max(k, STRIP_H) : k;
  stage.width = W * k;
  stage.height = H * ky;
  const ctx = ctx2d(stage);
  if (!ctx) return null;
  const img = ctx.createImageData(W * k, H * ky);
  mapToRgba(d.values, channel * H * W, W, H, style.range, style.lut, {
    out: img.data,
    offset: 0,
    stride: W * k * 4,
    scale: k,
  });
  const row = W * k * 4;
  for (let y = k; y < ky; y++) img.data.copyWithin(y * row, 0, row); // a strip: every row alike
  ctx.putImageData(img, 0, 0);
  return { x: k, y: ky };
}

/** Outlines the kernel's taps (every row × column pair inside the map) on a painted stage. */
export function paintTaps(
  stage: HTMLCanvasElement,
  k: CellPx,
  d: LayerData,
  taps: { rows: number[]; cols: number[] },
): void {
  const ctx = ctx2d(stage);
  if (!ctx) return;
  ctx.strokeStyle = TAP;
  ctx.lineWidth = Math.max(1, Math.min(2, Math.min(k.x, k.y) / 3));
  for (const r of taps.rows) {
    for (const c of taps.cols) {
      if (r >= 0 && c >= 0 && r < d.height && c < d.width)
        ctx.strokeRect(c * k.x + 0.5, r * k.y + 0.5, Math.max(1, k.x - 1), Math.max(1, k.y - 1));
    }
  }
}

/** Outlines the pool window on a painted stage and marks the cell looked at or the winner. */
export function paintPoolWindow(
  stage: HTMLCanvasElement,
  k: CellPx,
  pool: TraceStep,
  f: Frame,
): void {
  const ctx = ctx2d(stage);
  const w = pool.window;
  if (!ctx || !w) return;
  ctx.lineWidth = 2;
  ctx.strokeStyle = WIN;
  ctx.strokeRect(w.col0 * k.x, w.row0 * k.y, (w.col1 - w.col0) * k.x, (w.row1 - w.row0) * k.y);
  if (f.cell) {
    ctx.strokeStyle = f.kind === "winner" ? WIN : TAP;
    ctx.fillStyle = f.kind === "winner" ? "rgba(0,229,255,0.6)" : "rgba(0,0,0,0)";
    ctx.fillRect(f.cell.col * k.x, f.cell.row * k.y, k.x, k.y);
    ctx.strokeRect(f.cell.col * k.x + 1, f.cell.row * k.y + 1, k.x - 2, k.y - 2);
  }
}
