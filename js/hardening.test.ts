import { describe, expect, it } from "vitest";
import { reviveNumbers } from "./model/decode";
import { type Progress, StaleError, Store } from "./model/store";
import { FakeModel, f16Bytes } from "./testing/fake-model";
import type { LayerDataMsg, TraceMsg } from "./types";

function part(
  over: Partial<LayerDataMsg> & { chunk: number; channel_start: number; channel_stop: number },
): LayerDataMsg {
  return {
    type: "layer_data",
    request_id: 1,
    layer: "big",
    pre_activation: false,
    version: 1,
    height: 1,
    width: 2,
    channels: 3,
    encoding: "float16",
    layout: "chw",
    scale: 1,
    min: 1,
    max: 6,
    chunks: 2,
    ...over,
  };
}

describe("layers sent in parts (over 64 MiB)", () => {
  it("reassembles channel ranges in any order, reporting progress", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const seen: Progress[] = [];
    s.on("progress", (p) => seen.push(p));
    const p = s.layer("big");
    m.reply(part({ chunk: 1, channel_start: 1, channel_stop: 3 }), [f16Bytes([3, 4, 5, 6])]);
    m.reply(part({ chunk: 0, channel_start: 0, channel_stop: 1 }), [f16Bytes([1, 2])]);
    const d = await p;
    expect([...d.values]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(d.channels).toBe(3);
    expect(d.stats.max).toEqual([2, 4, 6]);
    expect(seen.map((x) => `${x.received}/${x.chunks}`)).toEqual(["1/2", "2/2"]);
    expect(s.peek("big")).toBe(d);
  });

  it("puts hwc parts in channel-major order and scales them", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("big");
    const hwc = { layout: "hwc" as const, channels: 2, scale: 4 };
    // channel 0 holds 1, 2 and channel 1 holds 3, 4 (times the scale)
    m.reply(part({ ...hwc, chunk: 0, channel_start: 0, channel_stop: 1 }), [f16Bytes([1, 2])]);
    m.reply(part({ ...hwc, chunk: 1, channel_start: 1, channel_stop: 2 }), [f16Bytes([3, 4])]);
    expect([...(await p).values]).toEqual([4, 8, 12, 16]);
  });

  it("drops a half-assembled layer when data_version changes", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("big");
    m.reply(part({ chunk: 0, channel_start: 0, channel_stop: 1 }), [f16Bytes([1, 2])]);
    m.set("data_version", 2);
    await expect(p).rejects.toBeInstanceOf(StaleError);
    m.reply(part({ chunk: 1, channel_start: 1, channel_stop: 3 }), [f16Bytes([3, 4, 5, 6])]);
    expect(s.peek("big")).toBeUndefined();
    // the next request for the same layer assembles from scratch (no mixed data)
    const q = s.layer("big");
    m.reply(part({ request_id: 2, version: 2, chunk: 1, channel_start: 1, channel_stop: 3 }), [
      f16Bytes([30, 40, 50, 60]),
    ]);
    m.reply(part({ request_id: 2, version: 2, chunk: 0, channel_start: 0, channel_stop: 1 }), [
      f16Bytes([10, 20]),
    ]);
    expect([...(await q).values]).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it("rejects malformed parts with what was expected", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("big");
    m.reply(part({ chunk: 0, channel_start: 2, channel_stop: 5 }), [f16Bytes([1, 2])]);
    await expect(p).rejects.toThrow(/Expected 0 ≤ channel_start < channel_stop ≤ 3/);
    const q = s.layer("big");
    m.reply(part({ request_id: 2, chunk: 0, channel_start: 0, channel_stop: 1 }), [
      f16Bytes([1, 2, 3]),
    ]);
    await expect(q).rejects.toThrow(/Expected 4 bytes/);
    const r = s.layer("big");
    m.reply(part({ request_id: 3, chunk: 2, channel_start: 0, channel_stop: 1 }), [f16Bytes([1])]);
    await expect(r).rejects.toThrow(/Expected chunk in \[0, chunks\)/);
  });

  it("reassembles row ranges of single channels (one channel over 64 MiB), in any order", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const seen: Progress[] = [];
    s.on("progress", (p) => seen.push(p));
    const p = s.layer("big");
    // 2 channels of 3 rows × 2 columns; each part is rows [r0, r1) of one channel
    const big = { height: 3, width: 2, channels: 2, chunks: 4 };
    const rows = (chunk: number, ch: number, r0: number, r1: number) =>
      part({ ...big, chunk, channel_start: ch, channel_stop: ch + 1, row_start: r0, row_stop: r1 });
    m.reply(rows(3, 1, 2, 3), [f16Bytes([11, 12])]);
    m.reply(rows(0, 0, 0, 2), [f16Bytes([1, 2, 3, 4])]);
    m.reply(rows(2, 1, 0, 2), [f16Bytes([7, 8, 9, 10])]);
    m.reply(rows(1, 0, 2, 3), [f16Bytes([5, 6])]);
    const d = await p;
    expect([...d.values]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(seen.map((x) => `${x.received}/${x.chunks}`)).toEqual(["1/4", "2/4", "3/4", "4/4"]);
  });

  it("puts hwc row parts in channel-major order and scales them", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("big");
    // one channel, 2 rows × 2 columns, sent as row 0 then row 1
    const one = { layout: "hwc" as const, height: 2, width: 2, channels: 1, scale: 0.5 };
    const row = (r: number) =>
      part({ ...one, chunk: r, channel_start: 0, channel_stop: 1, row_start: r, row_stop: r + 1 });
    m.reply(row(1), [f16Bytes([6, 8])]);
    m.reply(row(0), [f16Bytes([2, 4])]);
    expect([...(await p).values]).toEqual([1, 2, 3, 4]);
  });

  it("rejects row ranges outside the layer", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("big");
    const bad = { chunk: 0, channel_start: 0, channel_stop: 1, row_start: 1, row_stop: 3 };
    m.reply(part(bad), [f16Bytes([1, 2])]);
    await expect(p).rejects.toThrow(/Expected 0 ≤ row_start < row_stop ≤ 1, received \[1, 3\)/);
  });
});

describe("non-finite numbers in trace messages", () => {
  it("turns the kernel's NaN/Infinity strings back into numbers, names untouched", () => {
    const msg = {
      type: "trace",
      layer: "NaN",
      steps: [{ layer: "Infinity", kind: "conv", value: "NaN", window: { row0: 0 } }],
      conv: {
        bias: "-Infinity",
        total: 1,
        terms: [{ contribution: "Infinity", window: [["NaN", 1]] }],
      },
    };
    const t = reviveNumbers(msg) as TraceMsg & { conv: { terms: { window: number[][] }[] } };
    expect(t.layer).toBe("NaN");
    expect(t.steps[0]?.layer).toBe("Infinity");
    expect(t.steps[0]?.value).toBeNaN();
    expect(t.conv?.bias).toBe(Number.NEGATIVE_INFINITY);
    expect(t.conv?.terms[0]?.contribution).toBe(Number.POSITIVE_INFINITY);
    expect(t.conv?.terms[0]?.window[0]?.[0]).toBeNaN();
  });
});
