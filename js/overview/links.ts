/**
 * Linked cells across layers, from the per-layer links the kernel sends (`LayerSpec.links`:
 * how each input's axes and channels map onto the layer, the geometry's own AxisMaps). For a
 * cell of one layer: its receptive field in every earlier layer (the cells it reads, through
 * any path) and its projective field in every later one (the cells that read it). Boxes are
 * exact bounding boxes (per axis, the hull of the cells read), composed layer by layer; a
 * layer of unknown geometry stops the walk. Pure arithmetic, no DOM: one hover costs one pass
 * over the layers.
 */
import type { LayerSpec } from "../types";

/** Half-open rows [r0, r1) × cols [c0, c1). */
export interface Box {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

/** Cells of one layer: a box (null: the whole layer, e.g. a vector) and channels (null: all). */
export interface Field {
  box: Box | null;
  ch: Channels;
}

/** How one axis of an input maps onto the layer's axis (fmwidget.geometry.AxisMap). */
export interface Axis {
  kind: "w" | "t" | "u" | "a";
  kernel: number;
  stride: number;
  dilation: number;
  offset: number;
}

export interface InputLink {
  from: number;
  rows: Axis | null;
  cols: Axis | null;
  /** Output channels [offset, offset + span) read this input's channels in `groups` groups. */
  ch: [number, number, number][];
}

export interface LinkNode {
  /** rows × cols, or null for a vector. */
  size: [number, number] | null;
  channels: number;
  /** null: unknown geometry (the walk stops here). */
  inputs: InputLink[] | null;
}

function axisOf(v: unknown): Axis | null {
  if (!Array.isArray(v) || v.length !== 5) return null;
  const [kind, kernel, stride, dilation, offset] = v;
  if (kind !== "w" && kind !== "t" && kind !== "u" && kind !== "a") return null;
  const ints = [kernel, stride, dilation, offset];
  if (!ints.every((x) => Number.isInteger(x))) return null;
  if ((kernel as number) < 1 || (stride as number) < 1 || (dilation as number) < 1) return null;
  return {
    kind,
    kernel: kernel as number,
    stride: stride as number,
    dilation: dilation as number,
    offset: offset as number,
  };
}

/** The link graph of a model's layers (malformed or missing links read as unknown). */
export function linkGraph(specs: readonly LayerSpec[]): LinkNode[] {
  return specs.map((spec, i) => {
    const raw = spec.links as { size?: unknown; inputs?: unknown } | null | undefined;
    const size =
      Array.isArray(raw?.size) &&
      raw.size.length === 2 &&
      raw.size.every((n) => Number.isInteger(n) && n >= 0)
        ? ([raw.size[0], raw.size[1]] as [number, number])
        : null;
    const channels = Number.isInteger(spec.channels) ? (spec.channels as number) : 1;
    if (!raw || !Array.isArray(raw.inputs)) return { size, channels, inputs: i === 0 ? [] : null };
    const inputs: InputLink[] = [];
    for (const item of raw.inputs as Record<string, unknown>[]) {
      const from = item?.from;
      if (!Number.isInteger(from) || (from as number) < 0 || (from as number) >= i) {
        return { size, channels, inputs: null };
      }
      const ch = Array.isArray(item.ch)
        ? (item.ch as unknown[]).filter(
            (r): r is [number, number, number] =>
              Array.isArray(r) && r.length === 3 && r.every((n) => Number.isInteger(n)),
          )
        : [];
      inputs.push({ from: from as number, rows: axisOf(item.rows), cols: axisOf(item.cols), ch });
    }
    return { size, channels, inputs };
  });
}

// -- one axis ---------------------------------------------------------------------------------
const floorDiv = (a: number, b: number) => Math.floor(a / b);
const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** Hull of {o·s + c : o ∈ [a, b), j < kernel, c = offset + j·dilation} ∩ [0, n). */
function image(ax: Axis, a: number, b: number, n: number): [number, number] {
  let lo = n;
  let hi = -1;
  const s = ax.stride;
  for (let j = 0; j < ax.kernel; j++) {
    const c = ax.offset + j * ax.dilation;
    const oLo = Math.max(a, ceilDiv(-c, s));
    const oHi = Math.min(b - 1, floorDiv(n - 1 - c, s));
    if (oLo > oHi) continue;
    lo = Math.min(lo, oLo * s + c);
    hi = Math.max(hi, oHi * s + c);
  }
  return lo > hi ? [0, 0] : [lo, hi + 1];
}

/** Hull of {o ∈ [0, n) : o·s + c ∈ [a, b) for some tap c}. */
function preimage(ax: Axis, a: number, b: number, n: number): [number, number] {
  let lo = n;
  let hi = -1;
  const s = ax.stride;
  for (let j = 0; j < ax.kernel; j++) {
    const c = ax.offset + j * ax.dilation;
    const oLo = Math.max(0, ceilDiv(a - c, s));
    const oHi = Math.min(n - 1, floorDiv(b - 1 - c, s));
    if (oLo > oHi) continue;
    lo = Math.min(lo, oLo);
    hi = Math.max(hi, oHi);
  }
  return lo > hi ? [0, 0] : [lo, hi + 1];
}

/** Input cells [.., ..) of length `nIn` read by output cells [a, b) along one axis. */
export function backAxis(ax: Axis | null, a: number, b: number, nIn: number): [number, number] {
  if (a >= b) return [0, 0];
  if (!ax || ax.kind === "a") return [0, nIn];
  if (ax.kind === "u") {
    const lo = floorDiv(a, ax.stride);
    const hi = Math.min(nIn, floorDiv(b - 1, ax.stride) + 1);
    return lo < hi ? [lo, hi] : [0, 0];
  }
  return ax.kind === "w" ? image(ax, a, b, nIn) : preimage(ax, a, b, nIn);
}

/** Output cells (of `nOut`) that read any input cell in [a, b) along one axis. */
export function forwardAxis(ax: Axis | null, a: number, b: number, nOut: number): [number, number] {
  if (a >= b) return [0, 0];
  if (!ax || ax.kind === "a") return [0, nOut];
  if (ax.kind === "u") {
    const lo = a * ax.stride;
    const hi = Math.min(nOut, b * ax.stride);
    return lo < hi ? [lo, hi] : [0, 0];
  }
  return ax.kind === "w" ? preimage(ax, a, b, nOut) : image(ax, a, b, nOut);
}

// -- channels ---------------------------------------------------------------------------------
/**
 * A set of channels as sorted, disjoint, non-touching half-open intervals; null: all of them.
 * DenseNet's concatenations make sets of hundreds of channels out of a few intervals.
 */
export type Channels = [number, number][] | null;

/** Sorted, merged intervals (touching ones joined); null when they cover [0, n). */
export function normalize(iv: [number, number][], n: number): Channels {
  let sorted = true;
  for (let i = 1; i < iv.length; i++) {
    if ((iv[i] as [number, number])[0] < (iv[i - 1] as [number, number])[0]) sorted = false;
  }
  const src = sorted ? iv : [...iv].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of src) {
    if (b <= a) continue;
    const last = out[out.length - 1];
    if (last && a <= last[1]) {
      if (b > last[1]) out[out.length - 1] = [last[0], b];
    } else out.push([a, b]);
  }
  const first = out[0];
  return out.length === 1 && first && first[0] <= 0 && first[1] >= n ? null : out;
}

/** Whether channel c is in the set. */
export function hasChannel(s: Channels, c: number): boolean {
  if (s === null) return true;
  for (const [a, b] of s) if (c >= a && c < b) return true;
  return false;
}

/** Number of channels in the set (null: `n`). */
export function channelCount(s: Channels, n: number): number {
  return s === null ? n : s.reduce((k, [a, b]) => k + b - a, 0);
}

/** Input channels read by output channels `out` through one link (groups: see InputLink). */
export function backChannels(
  ranges: readonly [number, number, number][],
  out: Channels,
  cIn: number,
): Channels {
  if (out === null) return null; // all output channels together read every input channel
  const only = ranges.length === 1 ? ranges[0] : undefined;
  const top = out[out.length - 1];
  if (only && only[0] === 0 && only[1] === cIn && only[2] === cIn && top && top[1] <= cIn) {
    return out; // channel-wise, all of them within this input: the same channels
  }
  const got: [number, number][] = [];
  for (const [off, span, groups] of ranges) {
    if (span <= 0) continue;
    const g = Math.max(1, groups);
    for (const [a0, b0] of out) {
      const a = Math.max(a0, off);
      const b = Math.min(b0, off + span);
      if (a >= b) continue;
      if (g === 1) return null;
      const g0 = Math.floor(((a - off) * g) / span);
      const g1 = Math.floor(((b - 1 - off) * g) / span);
      got.push([Math.floor((g0 * cIn) / g), Math.floor(((g1 + 1) * cIn) / g)]);
    }
  }
  return normalize(got, cIn);
}

/** Output channels (of `cOut`) that read input channels `inp` through one link. */
export function forwardChannels(
  ranges: readonly [number, number, number][],
  inp: Channels,
  cIn: number,
  cOut: number,
): Channels {
  const only = ranges.length === 1 ? ranges[0] : undefined;
  if (inp && only && only[0] === 0 && only[1] === cIn && only[2] === cIn && cIn === cOut) {
    return inp; // channel-wise: the same channels
  }
  const got: [number, number][] = [];
  for (const [off, span, groups] of ranges) {
    if (span <= 0) continue;
    const g = Math.max(1, groups);
    if (inp === null || g === 1) {
      got.push([off, off + span]);
      continue;
    }
    for (const [a0, b0] of inp) {
      const a = Math.max(0, a0);
      const b = Math.min(cIn, b0);
      if (a >= b) continue;
      const g0 = Math.floor((a * g) / cIn);
      const g1 = Math.floor(((b - 1) * g) / cIn);
      got.push([off + Math.floor((g0 * span) / g), off + Math.floor(((g1 + 1) * span) / g)]);
    }
  }
  return normalize(got, cOut);
}

// -- fields ---------------------------------------------------------------------------------
/** Union of two channel sets (sorted, merged intervals; null: all). */
function unite(a: Channels, b: Channels): Channels {
  if (a === null || b === null) return null;
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    let next: [number, number] | undefined;
    if (x && (!y || x[0] <= y[0])) {
      next = x;
      i++;
    } else {
      next = y;
      j++;
    }
    if (!next) break;
    const last = out[out.length - 1];
    if (last && next[0] <= last[1]) {
      if (next[1] > last[1]) out[out.length - 1] = [last[0], next[1]];
    } else out.push(next);
  }
  return out;
}

function merge(into: (Field | undefined)[], index: number, f: Field): void {
  const cur = into[index];
  if (!cur) {
    into[index] = f;
    return;
  }
  const box =
    cur.box && f.box
      ? {
          r0: Math.min(cur.box.r0, f.box.r0),
          r1: Math.max(cur.box.r1, f.box.r1),
          c0: Math.min(cur.box.c0, f.box.c0),
          c1: Math.max(cur.box.c1, f.box.c1),
        }
      : null;
  into[index] = { box, ch: unite(cur.ch, f.ch) };
}

function fullBox(size: [number, number]): Box {
  return { r0: 0, r1: size[0], c0: 0, c1: size[1] };
}

/** The receptive and projective fields of one cell, by layer index (the cell's own excluded). */
export interface Fields {
  /** Cells of earlier layers that the cell reads (its receptive field there). */
  reads: Map<number, Field>;
  /** Cells of later layers that read the cell (its projective field there). */
  readBy: Map<number, Field>;
}

/** Fields of cell (channel `ch`, `row`, `col`) of layer `index` (a vector: row = col = 0). */
export function fieldsOf(
  g: readonly LinkNode[],
  index: number,
  ch: number,
  row: number,
  col: number,
): Fields {
  const own = g[index];
  const start: Field = {
    box: own?.size ? { r0: row, r1: row + 1, c0: col, c1: col + 1 } : null,
    ch: [[ch, ch + 1]],
  };
  return { reads: back(g, index, start), readBy: forward(g, index, start) };
}

function back(g: readonly LinkNode[], index: number, start: Field): Map<number, Field> {
  const need: (Field | undefined)[] = new Array(index + 1);
  need[index] = start;
  const out = new Map<number, Field>();
  for (let i = index; i > 0; i--) {
    const f = need[i];
    if (!f) continue;
    if (i !== index) out.set(i, f);
    const node = g[i];
    if (!node?.inputs) continue;
    for (const link of node.inputs) {
      const src = g[link.from];
      if (!src) continue;
      const ch = backChannels(link.ch, f.ch, src.channels);
      if (ch && ch.length === 0) continue;
      let box: Box | null = null;
      if (src.size) {
        const b = node.size ? f.box : null;
        const [r0, r1] = b ? backAxis(link.rows, b.r0, b.r1, src.size[0]) : [0, src.size[0]];
        const [c0, c1] = b ? backAxis(link.cols, b.c0, b.c1, src.size[1]) : [0, src.size[1]];
        if (r0 >= r1 || c0 >= c1) continue;
        box = { r0, r1, c0, c1 };
      }
      merge(need, link.from, { box, ch });
    }
  }
  const input = need[0];
  if (input && index !== 0) out.set(0, input);
  return out;
}

function forward(g: readonly LinkNode[], index: number, start: Field): Map<number, Field> {
  const reach: (Field | undefined)[] = new Array(g.length);
  reach[index] = start;
  const out = new Map<number, Field>();
  for (let j = index + 1; j < g.length; j++) {
    const node = g[j];
    if (!node?.inputs) continue;
    for (const link of node.inputs) {
      const f = reach[link.from];
      if (!f) continue;
      const src = g[link.from];
      if (!src) continue;
      const ch = forwardChannels(link.ch, f.ch, src.channels, node.channels);
      if (ch && ch.length === 0) continue;
      let box: Box | null = null;
      if (node.size) {
        if (!src.size || !f.box) box = fullBox(node.size);
        else {
          const [r0, r1] = forwardAxis(link.rows, f.box.r0, f.box.r1, node.size[0]);
          const [c0, c1] = forwardAxis(link.cols, f.box.c0, f.box.c1, node.size[1]);
          if (r0 >= r1 || c0 >= c1) continue;
          box = { r0, r1, c0, c1 };
        }
      }
      merge(reach, j, { box, ch });
    }
    const r = reach[j];
    if (r) out.set(j, r);
  }
  return out;
}
