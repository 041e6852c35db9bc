/**
 * Tracing without a kernel: the same chain as `fmwidget.trace.trace` (walk back through
 * element-wise layers and max pooling to the producing convolution, forward to the first
 * pooling layer), built from tables the export computed exactly in Python:
 *
 * - receptive fields: the per-axis tables in `layers[i].receptive_field`;
 * - pooling windows: per-axis `[start, stop)` tables per pooling layer;
 * - max-pool winners: per channel and pooled cell, the index of the float32 argmax inside its
 *   window (ties to the first cell). Nothing is recomputed from float16 values, which would
 *   create false ties.
 *
 * Only the step values come from the embedded float16 maps (3 significant digits).
 */
import type { Hover, LayerSpec, TraceStep, Window } from "../types";

const PASS = new Set(["activation", "batch_norm", "dropout"]);
const CONV = new Set(["conv", "depthwise_conv", "separable_conv", "conv_transpose"]);

/** A cell as (row, col); 1D maps use row 0. */
export type Pos = readonly [number, number];

export interface PoolTable {
  rows: readonly (readonly [number, number])[];
  cols: readonly (readonly [number, number])[];
  /** Winner index inside the window per (channel, row, col) of the pooled map; null: average. */
  argmax: ArrayLike<number> | null;
  /** Bits per (channel, row, col) of the pool's input map: equal to its first window's winner. */
  ties?: { bits: Uint8Array; height: number; width: number } | null;
}

export interface TraceContext {
  layers: readonly LayerSpec[];
  /** Number of spatial axes of each spatial layer. */
  rank: (layer: string) => number | undefined;
  /** Pooling tables by layer name (absent: unknown geometry, a trace stops there). */
  pools: ReadonlyMap<string, PoolTable>;
  /** A value of one map (float16 as embedded); NaN when that map was not exported. */
  value: (layer: string, pre: boolean, filter: number, row: number, col: number) => number;
}

export interface StaticTrace {
  layer: string;
  steps: TraceStep[];
  receptive_field: Window;
  conv: null;
  clicked: Hover;
  note: string | null;
}

function box(
  rows: readonly (readonly [number, number])[],
  cols: readonly (readonly [number, number])[],
  p: Pos,
): Window {
  const r = rows[p[0]];
  const c = cols[p[1]];
  if (!r || !c) throw new Error(`no table entry for cell (${p[0]}, ${p[1]})`);
  return { row0: r[0], row1: r[1], col0: c[0], col1: c[1] };
}

/** Where the max of pooled cell `p`, channel `ch`, came from (null for average pooling). */
export function poolSource(pool: PoolTable, p: Pos, ch: number): Pos | null {
  if (!pool.argmax) return null;
  const nr = pool.rows.length;
  const nc = pool.cols.length;
  const k = pool.argmax[(ch * nr + p[0]) * nc + p[1]];
  const r = pool.rows[p[0]];
  const c = pool.cols[p[1]];
  if (k === undefined || !r || !c)
    throw new Error(`no max-pool winner for cell (${p[0]}, ${p[1]})`);
  const wc = c[1] - c[0];
  return [r[0] + Math.floor(k / wc), c[0] + (k % wc)];
}

/** The pooled cells whose window holds `p`, in row-major order. */
export function holdersOf(pool: PoolTable, p: Pos): Pos[] {
  const holders: Pos[] = [];
  pool.rows.forEach(([a, b], r) => {
    if (p[0] < a || p[0] >= b) return;
    pool.cols.forEach(([c0, c1], c) => {
      if (p[1] >= c0 && p[1] < c1) holders.push([r, c]);
    });
  });
  return holders;
}

/** Whether input cell `p` holds the same float32 value as the winner of its first window. */
export function tiesFirstWinner(pool: PoolTable, p: Pos, ch: number): boolean {
  const t = pool.ties;
  if (!t) return false;
  const i = (ch * t.height + p[0]) * t.width + p[1];
  return (((t.bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1;
}

function same(a: Pos | null, b: Pos): boolean {
  return a !== null && a[0] === b[0] && a[1] === b[1];
}

/** A cell as the widget shows it, as in `fmwidget.trace`'s notes. */
function at(p: Pos): string {
  return `(${p[0]}, ${p[1]})`;
}

function averageNote(pool: string, cell: Pos): string {
  return `${pool} averages its window: pooled cell ${at(cell)} is the mean of all the cells in it, not the value of one cell.`;
}

function checkIndex(v: unknown, size: number, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new TypeError(`Expected an int ${what}, received ${JSON.stringify(v)}.`);
  }
  if (v < 0 || v >= size) throw new Error(`Expected ${what} in range(0, ${size}), received ${v}.`);
  return v;
}

/** The trace of one cell, as `fmwidget.trace.trace` computes it (without conv arithmetic). */
export function traceCell(
  ctx: TraceContext,
  cell: { layer: unknown; filter: unknown; row: unknown; col: unknown },
): StaticTrace {
  const byName = new Map(ctx.layers.map((l) => [l.name, l]));
  const spec = typeof cell.layer === "string" ? byName.get(cell.layer) : undefined;
  if (!spec) throw new Error(`Unknown layer ${JSON.stringify(cell.layer)}.`);
  const rank = ctx.rank(spec.name);
  if (!spec.spatial || spec.channels == null || rank === undefined) {
    throw new Error(
      `Expected a layer with a spatial map, received ${JSON.stringify(spec.name)} whose output is a vector of shape (${spec.shape.join(", ")}).`,
    );
  }
  if (rank > 2)
    throw new Error(`Tracing ${spec.name}: maps with ${rank} spatial axes are not shown.`);
  const channel = checkIndex(cell.filter, spec.channels, "filter");
  const pos = positionOf(spec, rank, cell.row, cell.col);

  const consumers = new Map<number, LayerSpec[]>();
  for (const l of ctx.layers) {
    for (const i of l.inputs) {
      const list = consumers.get(i) ?? [];
      list.push(l);
      consumers.set(i, list);
    }
  }
  const singleInput = (l: LayerSpec) =>
    l.inputs.length === 1 ? ctx.layers[l.inputs[0] as number] : undefined;
  const singleConsumer = (l: LayerSpec) => {
    const users = consumers.get(l.index) ?? [];
    return users.length === 1 && users[0]?.inputs.length === 1 ? users[0] : undefined;
  };

  type Chain = [LayerSpec, Pos][];
  // from one cell back to the producing convolution, following max-pool winners
  const walkBack = (from: LayerSpec, p: Pos): Chain => {
    const chain: Chain = [[from, p]];
    for (;;) {
      const [cur, curPos] = chain[0] as [LayerSpec, Pos];
      if (CONV.has(cur.kind)) break;
      const src = singleInput(cur);
      if (!src?.spatial || src.channels !== cur.channels) break;
      let next = curPos;
      if (cur.kind === "pooling") {
        const pool = ctx.pools.get(cur.name);
        const s = pool ? poolSource(pool, curPos, channel) : null;
        if (!s) break; // average pooling: no single source cell
        next = s;
      } else if (!PASS.has(cur.kind)) break;
      chain.unshift([src, next]);
    }
    return chain;
  };
  // into the first pooling layer: rebuilt back from the winner when it is not the clicked cell
  const intoPool = (chain: Chain, spec2: LayerSpec, pool: PoolTable): [Chain, string | null] => {
    const here = `You clicked ${at(pos)} of ${spec.name}`;
    const name = spec2.name;
    const holders = holdersOf(pool, pos);
    const first = holders[0];
    if (!first)
      return [chain, `${here}; no window of ${name} holds it, so nothing was pooled from it.`];
    const many = holders.length > 1;
    if (!pool.argmax) {
      const lead = many
        ? `${here}; it lies in ${holders.length} windows of ${name}, shown: the first. `
        : "";
      return [[...chain, [spec2, first]], lead + averageNote(name, first)];
    }
    const won = holders.find((h) => same(poolSource(pool, h, channel), pos));
    if (won) {
      const note = many
        ? `${here}; it lies in ${holders.length} windows of ${name} and is the max of pooled cell ${at(won)}, shown here.`
        : null;
      return [[...chain, [spec2, won]], note];
    }
    const src = poolSource(pool, first, channel) as Pos;
    const where = many
      ? `it lies in ${holders.length} windows of ${name} and is the max of none; the max of the first, pooled cell ${at(first)},`
      : `the max of its ${name} window`;
    let note = `${here}; ${where} came from ${at(src)}, so the steps before ${name} show ${at(src)}, the cell that fed the pooled value.`;
    if (tiesFirstWinner(pool, pos, channel)) {
      note += ` ${at(pos)} and ${at(src)} hold the same value: ties go to the first cell in row-major order.`;
    }
    return [walkBack(spec2, first), note];
  };

  let chain = walkBack(spec, pos);
  let note: string | null = null;
  const own = ctx.pools.get(spec.name);
  if (spec.kind === "pooling" && chain.length === 1 && own && !own.argmax) {
    note = averageNote(spec.name, pos);
  }
  // walk forward to the first pooling layer
  let cur = spec;
  while (cur.kind !== "pooling") {
    const nxt = singleConsumer(cur);
    if (!nxt?.spatial || nxt.channels !== cur.channels) break;
    if (nxt.kind === "pooling") {
      const pool = ctx.pools.get(nxt.name);
      if (pool) [chain, note] = intoPool(chain, nxt, pool);
      break;
    }
    if (!PASS.has(nxt.kind)) break;
    chain.push([nxt, pos]);
    cur = nxt;
  }

  const steps: TraceStep[] = [];
  for (const [info, p] of chain) steps.push(...stepsOf(ctx, info, p, channel));
  const clicked: Hover = {
    layer: spec.name,
    filter: channel,
    row: pos[0],
    col: pos[1],
    value: ctx.value(spec.name, false, channel, pos[0], pos[1]),
  };
  return {
    layer: spec.name,
    steps,
    receptive_field: receptiveBox(spec, pos),
    conv: null,
    clicked,
    note,
  };
}

function positionOf(spec: LayerSpec, rank: number, row: unknown, col: unknown): Pos {
  // layer specs give a 1D map's length as its height
  const dims = rank === 1 ? [spec.height ?? 0] : [spec.height ?? 0, spec.width ?? 0];
  const where = `layer ${JSON.stringify(spec.name)}`;
  if (rank === 1) {
    return [0, checkIndex(col, dims[0] as number, `position in ${where}`)];
  }
  return [
    checkIndex(row, dims[0] as number, `row in ${where}`),
    checkIndex(col, dims[1] as number, `col in ${where}`),
  ];
}

function receptiveBox(spec: LayerSpec, p: Pos): Window {
  const rf = spec.receptive_field;
  if (!rf) {
    throw new Error(
      `The receptive field of ${JSON.stringify(spec.name)} is unknown: a layer of unknown geometry is on its path.`,
    );
  }
  return box(rf.rows, rf.cols, p);
}

function stepsOf(ctx: TraceContext, info: LayerSpec, p: Pos, channel: number): TraceStep[] {
  const base = {
    layer: info.name,
    class_name: info.class_name,
    filter: channel,
    row: p[0],
    col: p[1],
    receptive_field: receptiveBox(info, p),
  };
  if (info.fused_activation) {
    return [
      {
        ...base,
        kind: info.kind,
        pre_activation: true,
        value: ctx.value(info.name, true, channel, p[0], p[1]),
      },
      {
        ...base,
        kind: "activation",
        activation: info.fused_activation,
        fused: true,
        value: ctx.value(info.name, false, channel, p[0], p[1]),
      } as TraceStep,
    ];
  }
  const step: TraceStep = {
    ...base,
    kind: info.kind,
    value: ctx.value(info.name, false, channel, p[0], p[1]),
  };
  if (info.kind === "pooling") {
    const pool = ctx.pools.get(info.name);
    if (pool) {
      step.window = box(pool.rows, pool.cols, p);
      const s = poolSource(pool, p, channel);
      if (s) step.argmax = { row: s[0], col: s[1] };
    }
  }
  return [step];
}
