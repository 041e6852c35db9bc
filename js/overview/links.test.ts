import { describe, expect, it } from "vitest";
import type { LayerSpec } from "../types";
import {
  type Axis,
  backAxis,
  backChannels,
  type Channels,
  channelCount,
  fieldsOf,
  forwardAxis,
  forwardChannels,
  hasChannel,
  linkGraph,
  normalize,
} from "./links";

/** Whether output o reads input i (the rule of fmwidget.geometry.AxisMap.relation). */
function reads(ax: Axis, o: number, i: number): boolean {
  if (ax.kind === "a") return true;
  if (ax.kind === "u") return i === Math.floor(o / ax.stride);
  for (let j = 0; j < ax.kernel; j++) {
    const t = ax.offset + j * ax.dilation;
    if (ax.kind === "w" ? i === o * ax.stride + t : o === i * ax.stride + t) return true;
  }
  return false;
}

function hull(xs: number[]): [number, number] {
  return xs.length ? [Math.min(...xs), Math.max(...xs) + 1] : [0, 0];
}

function brute(ax: Axis, a: number, b: number, nOut: number, nIn: number) {
  const back: number[] = [];
  const fwd: number[] = [];
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < nIn; i++) {
      if (!reads(ax, o, i)) continue;
      if (o >= a && o < b) back.push(i);
      if (i >= a && i < b) fwd.push(o);
    }
  }
  return { back: hull(back), fwd: hull(fwd) };
}

describe("one axis", () => {
  it("matches a brute-force relation for windows, transposes and upsampling", () => {
    const kinds: Axis["kind"][] = ["w", "t", "u", "a"];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 1500; trial++) {
      const kind = kinds[trial % 4] as Axis["kind"];
      const ax: Axis = {
        kind,
        kernel: 1 + rnd(5),
        stride: 1 + rnd(3),
        dilation: 1 + rnd(3),
        offset: rnd(7) - 4,
      };
      const nOut = 1 + rnd(12);
      const nIn = 1 + rnd(12);
      const n = Math.max(nOut, nIn);
      const a = rnd(n);
      const b = a + 1 + rnd(4);
      const want = brute(ax, a, b, nOut, nIn);
      const ctx = JSON.stringify({ ax, a, b, nOut, nIn });
      expect(backAxis(ax, a, Math.min(b, nOut), nIn), ctx).toEqual(a < nOut ? want.back : [0, 0]);
      expect(forwardAxis(ax, a, Math.min(b, nIn), nOut), ctx).toEqual(a < nIn ? want.fwd : [0, 0]);
    }
  });
  it("reads a 3×3 valid window and a same-padded stride-2 one, clipped to the map", () => {
    const valid: Axis = { kind: "w", kernel: 3, stride: 1, dilation: 1, offset: 0 };
    expect(backAxis(valid, 2, 4, 10)).toEqual([2, 6]);
    expect(forwardAxis(valid, 5, 6, 8)).toEqual([3, 6]);
    const s2: Axis = { kind: "w", kernel: 3, stride: 2, dilation: 1, offset: -1 };
    expect(backAxis(s2, 0, 1, 10)).toEqual([0, 2]); // the tap at -1 is padding
    expect(backAxis(s2, 4, 5, 9)).toEqual([7, 9]);
  });
  it("null axis (the whole input) and empty intervals", () => {
    expect(backAxis(null, 1, 2, 7)).toEqual([0, 7]);
    expect(forwardAxis(null, 0, 1, 3)).toEqual([0, 3]);
    expect(backAxis(null, 2, 2, 7)).toEqual([0, 0]);
  });
});

describe("channels", () => {
  it("all-to-all, channel-wise, depthwise, grouped and concatenated", () => {
    expect(backChannels([[0, 8, 1]], [[3, 4]], 4)).toBeNull();
    expect(forwardChannels([[0, 8, 1]], [[1, 2]], 4, 8)).toBeNull();
    expect(backChannels([[0, 4, 4]], [[2, 3]], 4)).toEqual([[2, 3]]);
    // depthwise, multiplier 2: output 5 reads input 2; input 2 feeds outputs 4 and 5
    expect(backChannels([[0, 8, 4]], [[5, 6]], 4)).toEqual([[2, 3]]);
    expect(forwardChannels([[0, 8, 4]], [[2, 3]], 4, 8)).toEqual([[4, 6]]);
    // 2 groups of 4 inputs → 6 outputs: output 4 reads inputs 4..7
    expect(backChannels([[0, 6, 2]], [[4, 5]], 8)).toEqual([[4, 8]]);
    // concat [a (3 ch), b (4 ch)]: output 5 is b's channel 2, not a's
    expect(backChannels([[3, 4, 4]], [[5, 6]], 4)).toEqual([[2, 3]]);
    expect(backChannels([[0, 3, 3]], [[5, 6]], 3)).toEqual([]);
    expect(forwardChannels([[3, 4, 4]], null, 4, 7)).toEqual([[3, 7]]);
    expect(backChannels([[0, 4, 4]], null, 4)).toBeNull();
  });
  it("maps interval sets exactly as channel by channel (brute force over groups)", () => {
    for (const [cIn, cOut, g, off, total] of [
      [4, 8, 4, 0, 8],
      [8, 6, 2, 0, 6],
      [6, 6, 6, 3, 12],
      [12, 4, 4, 0, 4],
    ] as const) {
      const reads = (o: number, i: number) => {
        if (o < off || o >= off + cOut) return false;
        const grp = Math.floor(((o - off) * g) / cOut);
        return i >= Math.floor((grp * cIn) / g) && i < Math.floor(((grp + 1) * cIn) / g);
      };
      const list = (s: Channels, n: number) =>
        Array.from({ length: n }, (_, c) => c).filter((c) => hasChannel(s, c));
      for (let a = 0; a < total; a++) {
        for (let b = a + 1; b <= Math.min(total, a + 4); b++) {
          const want = Array.from({ length: cIn }, (_, i) => i).filter((i) =>
            Array.from({ length: b - a }, (_, k) => a + k).some((o) => reads(o, i)),
          );
          expect(list(backChannels([[off, cOut, g]], [[a, b]], cIn), cIn)).toEqual(want);
        }
      }
      for (let a = 0; a < cIn; a++) {
        const want = Array.from({ length: total }, (_, o) => o).filter((o) => reads(o, a));
        expect(list(forwardChannels([[off, cOut, g]], [[a, a + 1]], cIn, total), total)).toEqual(
          want,
        );
      }
    }
  });
  it("keeps sets as few merged intervals", () => {
    expect(
      normalize(
        [
          [5, 6],
          [0, 2],
          [2, 3],
          [6, 9],
        ],
        20,
      ),
    ).toEqual([
      [0, 3],
      [5, 9],
    ]);
    expect(
      normalize(
        [
          [0, 4],
          [4, 8],
        ],
        8,
      ),
    ).toBeNull();
    expect(
      channelCount(
        [
          [0, 3],
          [5, 9],
        ],
        20,
      ),
    ).toBe(7);
  });
});

function spec(index: number, links: LayerSpec["links"], channels: number | null): LayerSpec {
  return {
    index,
    name: `l${index}`,
    kind: "conv",
    class_name: "X",
    shape: [],
    spatial: links?.size != null,
    height: null,
    width: null,
    channels,
    signed: false,
    inputs: [],
    fused_activation: null,
    links,
  };
}

const W = (k: number, s = 1, off = 0) => ["w", k, s, 1, off];

describe("fieldsOf", () => {
  // input 8×8×1 → conv 3×3 valid (6×6×4) → relu (6×6×4) → max-pool 2 (3×3×4) → dense (10)
  const specs = [
    spec(0, { size: [8, 8], inputs: [] }, 1),
    spec(1, { size: [6, 6], inputs: [{ from: 0, rows: W(3), cols: W(3), ch: [[0, 4, 1]] }] }, 4),
    spec(2, { size: [6, 6], inputs: [{ from: 1, rows: W(1), cols: W(1), ch: [[0, 4, 4]] }] }, 4),
    spec(
      3,
      { size: [3, 3], inputs: [{ from: 2, rows: W(2, 2), cols: W(2, 2), ch: [[0, 4, 4]] }] },
      4,
    ),
    spec(4, { size: null, inputs: [{ from: 3, rows: null, cols: null, ch: [[0, 1, 1]] }] }, null),
  ];
  const g = linkGraph(specs);

  it("walks back to the input through pool, activation and conv", () => {
    const { reads, readBy } = fieldsOf(g, 3, 2, 1, 1);
    expect(reads.get(2)).toEqual({ box: { r0: 2, r1: 4, c0: 2, c1: 4 }, ch: [[2, 3]] });
    expect(reads.get(1)).toEqual({ box: { r0: 2, r1: 4, c0: 2, c1: 4 }, ch: [[2, 3]] });
    expect(reads.get(0)).toEqual({ box: { r0: 2, r1: 6, c0: 2, c1: 6 }, ch: null });
    expect(readBy.get(4)).toEqual({ box: null, ch: null }); // the dense layer reads it all
    expect(reads.has(3) || readBy.has(3)).toBe(false);
  });
  it("walks forward from an input pixel", () => {
    const { reads, readBy } = fieldsOf(g, 0, 0, 0, 7);
    expect(reads.size).toBe(0);
    expect(readBy.get(1)).toEqual({ box: { r0: 0, r1: 1, c0: 5, c1: 6 }, ch: null });
    expect(readBy.get(3)).toEqual({ box: { r0: 0, r1: 1, c0: 2, c1: 3 }, ch: null });
  });
  it("stops at a layer of unknown geometry", () => {
    const broken = linkGraph([
      ...specs.slice(0, 2),
      { ...(specs[2] as LayerSpec), links: null },
      ...specs.slice(3),
    ]);
    const { reads } = fieldsOf(broken, 3, 0, 0, 0);
    expect([...reads.keys()]).toEqual([2]);
    expect(fieldsOf(broken, 1, 0, 0, 0).readBy.has(2)).toBe(false);
  });
});
