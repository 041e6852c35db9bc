/**
 * The frames of the animated step-through: a convolution cell's sum, one input map at a time,
 * then the bias and the activation; a max-pool cell's window, one value at a time, then the
 * winner. Pure: no DOM. Every number comes from the kernel's trace (exact float32 sums).
 */
import { cellText } from "../format";
import type { ConvArithmetic, TraceStep } from "../types";

export type FrameKind = "slide" | "term" | "others" | "bias" | "activation" | "scan" | "winner";

export interface Frame {
  kind: FrameKind;
  /** What this frame does, in words. */
  label: string;
  /** Index into `conv.terms` (term frames). */
  term?: number;
  /** The input map this frame reads (term frames). */
  channel?: number;
  /** Pool frames: the cell of the pool's input map looked at (scan) or the winner. */
  cell?: { row: number; col: number };
  /** What this frame adds (conv) or the value looked at (pool). */
  add: number;
  /** Conv: the running sum after this frame (the activation's output on its frame). Pool: the max so far. */
  partial: number;
}

/** The activation step that follows the chain's convolution step, if any. */
export function activationAfter(
  steps: readonly TraceStep[],
  conv: ConvArithmetic,
): TraceStep | null {
  const i = steps.findIndex((s) => s.layer === conv.layer);
  const next = i >= 0 ? steps[i + 1] : undefined;
  return next && next.kind === "activation" && next.filter === steps[i]?.filter ? next : null;
}

/**
 * Frames of one conv cell: each shown term, the other maps (summed), the bias, the activation.
 * `series`: the layer is 1-D (cells are time steps: "step t", no row).
 */
export function convFrames(
  conv: ConvArithmetic,
  activation?: TraceStep | null,
  cell?: { row: number; col: number } | null,
  series = false,
): Frame[] {
  const frames: Frame[] = [];
  if (cell && slidable(conv)) {
    const along = series ? "the time axis, one output step" : "the input, one output cell";
    frames.push({
      kind: "slide",
      label: `the kernel's window slides over ${along} per position, to ${cellText(cell, series)}`,
      cell,
      add: 0,
      partial: 0,
    });
  }
  let sum = 0;
  conv.terms.forEach((t, i) => {
    sum += t.contribution;
    frames.push({
      kind: "term",
      label: `map ${t.channel}: window × kernel, summed`,
      term: i,
      channel: t.channel,
      add: t.contribution,
      partial: sum,
    });
  });
  const shown = conv.terms.length;
  const n = typeof conv.n_channels === "number" ? conv.n_channels : shown;
  if (n > shown) {
    const rest =
      typeof conv.others === "number"
        ? conv.others
        : conv.total - conv.bias - conv.terms.reduce((a, t) => a + t.contribution, 0);
    sum += rest;
    const k = n - shown;
    frames.push({
      kind: "others",
      label: `the ${k} other map${k === 1 ? "" : "s"} (smaller terms), summed`,
      add: rest,
      partial: sum,
    });
  }
  sum += conv.bias;
  frames.push({
    kind: "bias",
    label: "+ bias = the pre-activation value",
    add: conv.bias,
    partial: sum,
  });
  if (activation) {
    const name = activation.activation ?? activation.layer;
    frames.push({
      kind: "activation",
      label: `${name}(${fmtPlain(sum)})`,
      add: activation.value - sum,
      partial: activation.value,
    });
  }
  return frames;
}

function fmtPlain(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

/** Largest window scanned cell by cell; bigger windows show their values in one frame. */
export const MAX_SCAN = 49;

/**
 * Frames of one max-pool cell over its input map `values` (channel-major, H×W): each cell of
 * the window in row-major order with the max so far, then the winner (the kernel's argmax,
 * whose float32 value is the pooled one). `series`: a 1-D pool, cells named "step t".
 */
export function poolFrames(
  pool: TraceStep,
  read: (row: number, col: number) => number,
  series = false,
): Frame[] {
  const w = pool.window;
  if (!w || !pool.argmax) return [];
  const frames: Frame[] = [];
  const cells = (w.row1 - w.row0) * (w.col1 - w.col0);
  if (cells <= MAX_SCAN) {
    let best = Number.NEGATIVE_INFINITY;
    for (let r = w.row0; r < w.row1; r++) {
      for (let c = w.col0; c < w.col1; c++) {
        const v = read(r, c);
        const better = v > best;
        if (better) best = v;
        const at = cellText({ row: r, col: c }, series);
        frames.push({
          kind: "scan",
          label: better ? `${at} is the largest so far` : `${at} is not larger`,
          cell: { row: r, col: c },
          add: v,
          partial: best,
        });
      }
    }
  }
  const { row, col } = pool.argmax;
  frames.push({
    kind: "winner",
    label: `max = ${cellText({ row, col }, series)}: it becomes the pooled value`,
    cell: { row, col },
    add: pool.value,
    partial: pool.value,
  });
  return frames;
}

/** Whether the window of every output cell can be placed (origin, strides, dilation, size). */
export function slidable(conv: ConvArithmetic): boolean {
  return Boolean(
    conv.taps &&
      conv.origin &&
      conv.origin[0] !== null &&
      conv.origin[1] !== null &&
      conv.strides &&
      conv.dilation &&
      conv.output,
  );
}

/**
 * The input rows and columns the window of output cell `to` reads (padding ones left out),
 * from the traced cell `at`'s window: origin + (to − at) × stride + k × dilation.
 */
export function tapsAt(
  conv: ConvArithmetic,
  at: { row: number; col: number },
  to: { row: number; col: number },
): { rows: number[]; cols: number[] } {
  const [r0, c0] = conv.origin ?? [0, 0];
  const [sr, sc] = conv.strides ?? [1, 1];
  const [dr, dc] = conv.dilation ?? [1, 1];
  const nr = conv.taps?.rows.length ?? 0;
  const nc = conv.taps?.cols.length ?? 0;
  const rows = Array.from({ length: nr }, (_, k) => (r0 ?? 0) + (to.row - at.row) * sr + k * dr);
  const cols = Array.from({ length: nc }, (_, k) => (c0 ?? 0) + (to.col - at.col) * sc + k * dc);
  return { rows, cols };
}

/** Output cells the sliding window visits on its way to `to`: down column 0, then along the row, at most `n`. */
export function slidePath(
  to: { row: number; col: number },
  n = 24,
): { row: number; col: number }[] {
  const all: { row: number; col: number }[] = [];
  for (let r = 0; r <= to.row; r++) all.push({ row: r, col: 0 });
  for (let c = 1; c <= to.col; c++) all.push({ row: to.row, col: c });
  if (all.length <= n) return all;
  const out: { row: number; col: number }[] = [];
  for (let i = 0; i < n; i++)
    out.push(all[Math.round((i * (all.length - 1)) / (n - 1))] as { row: number; col: number });
  return out;
}
