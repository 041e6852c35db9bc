import { describe, expect, it } from "vitest";
import { FakeModel, f16Bytes, nonzeroBytes } from "../testing/fake-model";
import type { LayerData, LayerDataMsg, LayerSpec } from "../types";
import { computeStats } from "./decode";
import { type Progress, StaleError, Store } from "./store";

function layerMsg(over: Partial<LayerDataMsg> & { request_id: number }): LayerDataMsg {
  return {
    type: "layer_data",
    layer: "conv",
    pre_activation: false,
    version: 1,
    height: 1,
    width: 2,
    channels: 2,
    encoding: "float16",
    stats: { min: [1, 3], max: [2, 4], mean: [1.5, 3.5], zero_fraction: [0, 0], nan_count: [0, 0] },
    layer_min: 1,
    layer_max: 4,
    ...over,
  };
}

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

describe("Store", () => {
  it("keeps each layer's receptive-field tables from its reply, per data_version", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const spec = { name: "conv" } as LayerSpec;
    const rf = {
      rows: [[0, 3]] as [number, number][],
      cols: [
        [0, 3],
        [1, 4],
      ] as [number, number][],
    };
    expect(s.geometry(spec)).toBeUndefined(); // nothing of the layer has arrived
    const p = s.layer("conv");
    m.reply(layerMsg({ request_id: 1, receptive_field: rf }), [f16Bytes([1, 2, 3, 4])]);
    await p;
    expect(s.geometry(spec)).toEqual(rf);
    // a layer of unknown geometry: null, not "not yet"
    m.reply(layerMsg({ request_id: 9, layer: "odd", receptive_field: null }), [
      f16Bytes([1, 2, 3, 4]),
    ]);
    expect(s.geometry({ name: "odd" } as LayerSpec)).toBeNull();
    // the static export's layers carry their own tables: those win
    const own = { rows: [[5, 6]] as [number, number][], cols: [[7, 8]] as [number, number][] };
    expect(s.geometry({ name: "conv", receptive_field: own } as LayerSpec)).toEqual(own);
    // a new input forgets them; a stale reply does not bring them back
    m.set("data_version", 2);
    expect(s.geometry(spec)).toBeUndefined();
    m.reply(layerMsg({ request_id: 7, receptive_field: rf }), [f16Bytes([1, 2, 3, 4])]);
    expect(s.geometry(spec)).toBeUndefined();
  });

  it("requests a layer once, decodes the reply and caches it", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const a = s.layer("conv");
    const b = s.layer("conv");
    expect(m.sent).toHaveLength(1);
    expect(m.sent[0]).toEqual({
      type: "get_layer",
      layer: "conv",
      pre_activation: false,
      version: 1,
      request_id: 1,
    });
    m.reply(layerMsg({ request_id: 1 }), [f16Bytes([1, 2, 3, 4])]);
    const [da, db] = await Promise.all([a, b]);
    expect(da).toBe(db);
    expect([...da.values]).toEqual([1, 2, 3, 4]);
    expect(await s.layer("conv")).toBe(da);
    expect(m.sent).toHaveLength(1);
    expect(s.peek("conv", true)).toBeUndefined();
  });

  it("drops stale replies and empties the cache on a new data_version", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const invalidated: number[] = [];
    s.on("invalidate", (v) => invalidated.push(v));
    const p = s.layer("conv");
    m.set("data_version", 2);
    await expect(p).rejects.toBeInstanceOf(StaleError);
    expect(invalidated).toEqual([2]);
    // a late reply to the old request is ignored
    m.reply(layerMsg({ request_id: 1 }), [f16Bytes([1, 2, 3, 4])]);
    expect(s.peek("conv")).toBeUndefined();
    const q = s.layer("conv");
    expect(m.sent[1]).toMatchObject({ version: 2, request_id: 2 });
    m.reply(layerMsg({ request_id: 2, version: 1 }), [f16Bytes([1, 2, 3, 4])]);
    await expect(q).rejects.toBeInstanceOf(StaleError);
  });

  it("rejects on error messages and reports them", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const errors: string[] = [];
    s.on("error", (e) => errors.push(e));
    const p = s.layer("nope");
    m.reply({ type: "error", request_id: 1, message: "Expected a layer name, received 'nope'" });
    await expect(p).rejects.toThrow(/received 'nope'/);
    expect(errors).toHaveLength(0); // the requester shows it
    m.reply({ type: "error", request_id: null, message: "kernel trouble" });
    expect(errors).toEqual(["kernel trouble"]);
  });

  it("multiplies channels back by their scale", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("conv");
    m.reply(layerMsg({ request_id: 1, scale: [0.25, 1024] }), [f16Bytes([1024, -2, 1.5, 2047])]);
    expect([...(await p).values]).toEqual([256, -0.5, 1536, 2047 * 1024]);
    const q = s.layer("other");
    m.reply(layerMsg({ request_id: 2, layer: "other", scale: [1] }), [f16Bytes([1, 2, 3, 4])]);
    await expect(q).rejects.toThrow(/Expected 2 channel scales, received 1/);
  });

  it("accepts the kernel's native hwc layout with one scale and no stats", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("conv");
    const { stats: _s, layer_min: _lo, layer_max: _hi, ...bare } = layerMsg({ request_id: 1 });
    // H=1, W=2, C=2 in (H, W, C): c0=[1, 0], c1=[3, 4]
    m.reply({ ...bare, layout: "hwc", scale: 4, min: 0, max: 16 }, [f16Bytes([1, 3, 0, 4])]);
    const d = await p;
    expect([...d.values]).toEqual([4, 0, 12, 16]);
    expect(d.stats.min).toEqual([0, 12]);
    expect(d.stats.max).toEqual([4, 16]);
    expect(d.stats.zero_fraction).toEqual([0.5, 0]);
    expect([d.layerMin, d.layerMax]).toEqual([0, 16]);
  });

  it("rejects buffers of the wrong size with a clear message", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("conv");
    m.reply(layerMsg({ request_id: 1 }), [f16Bytes([1, 2, 3])]);
    await expect(p).rejects.toThrow(/Expected 8 bytes .* received 6/);
  });

  it("evicts least recently used layers past the byte cap", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel(), { cacheBytes: 720 });
    for (const [i, name] of ["a", "b", "c"].entries()) {
      const p = s.layer(name);
      m.reply(layerMsg({ request_id: i + 1, layer: name }), [f16Bytes([1, 2, 3, 4])]);
      await p;
    }
    expect(s.cache.keys()).toEqual(["0:b", "0:c"]);
    expect(s.global.lo).toBe(1);
  });

  it("caches unsolicited layers and broadcasts traces", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    m.reply(layerMsg({ request_id: -1, layer: "pushed", pre_activation: true }), [
      f16Bytes([0, 0, 0, 0]),
    ]);
    expect(s.peek("pushed", true)?.channels).toBe(2);
    const traces: unknown[] = [];
    s.on("trace", (t) => traces.push(t));
    const t = s.trace({ layer: "conv", filter: 0, row: 0, col: 1 });
    expect(m.sent[0]).toMatchObject({ type: "get_trace", layer: "conv", col: 1, request_id: 1 });
    const reply = {
      type: "trace",
      request_id: 1,
      version: 1,
      steps: [],
      receptive_field: { row0: 0, row1: 3, col0: 0, col1: 3 },
    };
    m.reply(reply);
    await expect(t).resolves.toEqual(reply);
    m.reply({ ...reply, request_id: null });
    m.reply({ ...reply, request_id: null, version: 0 });
    expect(traces).toHaveLength(1);
  });

  it("shares one get_trace per cell while it runs, then asks again", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const cell = { layer: "conv", filter: 1, row: 0, col: 1 };
    const a = s.trace(cell);
    expect(s.trace({ ...cell })).toBe(a);
    s.trace({ ...cell, col: 0 }); // another cell: its own request
    s.layer("conv"); // a layer of the same name: its own request
    expect(m.sent.map((x) => [x.type, x.request_id])).toEqual([
      ["get_trace", 1],
      ["get_trace", 2],
      ["get_layer", 3],
    ]);
    m.reply({ type: "trace", request_id: 1, version: 1, steps: [] });
    await a;
    const again = s.trace(cell);
    expect(again).not.toBe(a);
    expect(m.sent[3]).toMatchObject({ type: "get_trace", col: 1, request_id: 4 });
  });

  it("ask(): any other reply type reaches its caller with its buffers; errors and stale reject", async () => {
    const m = new FakeModel({ data_version: 1 });
    const s = new Store(m.asModel());
    const p = s.ask((request_id) => ({
      type: "get_thumbs",
      layers: ["c"],
      version: 1,
      request_id,
    }));
    const sent = m.sent[0] as { request_id: number };
    m.reply({ type: "thumbs", request_id: sent.request_id, version: 1, layers: [] }, [
      f16Bytes([1]),
    ]);
    const r = await p;
    expect(r.msg.type).toBe("thumbs");
    expect(r.buffers.length).toBe(1);
    const q = s.ask((request_id) => ({ type: "get_thumbs", layers: ["x"], request_id }));
    m.reply({
      type: "error",
      request_id: (m.sent[1] as { request_id: number }).request_id,
      message: "nope",
    });
    await expect(q).rejects.toThrow("nope");
    const old = s.ask((request_id) => ({ type: "get_thumbs", layers: ["c"], request_id }));
    m.reply({
      type: "thumbs",
      request_id: (m.sent[2] as { request_id: number }).request_id,
      version: 0,
    });
    await expect(old).rejects.toBeInstanceOf(StaleError);
  });

  it("removes its listeners on dispose", () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("x");
    s.dispose();
    expect(m.listenerCount("msg:custom")).toBe(0);
    expect(m.listenerCount("change:data_version")).toBe(0);
    return expect(p).rejects.toThrow(/closed/);
  });
});

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

  it("hands out the layer so far after each part, complete channels marked ready", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const partial: LayerData[] = [];
    s.on("partial", (d) =>
      partial.push({ ...d, values: d.values.slice(), ready: d.ready?.slice() }),
    );
    let done = false;
    const p = s.layer("big", false, 1).then((d) => {
      done = true;
      return d;
    });
    expect(m.sent[0]).toMatchObject({ type: "get_layer", layer: "big", first_channels: 1 });
    const three = { chunks: 3, min: -4, max: 6, global_min: -9, global_max: 9 };
    // the first screenful (channel 0) packed, as the kernel sends a mostly-zero part
    const first = nonzeroBytes([0, 2]);
    m.reply(
      part({
        ...three,
        chunk: 0,
        channel_start: 0,
        channel_stop: 1,
        encoding: "float16_nonzero",
        nonzero: first.nonzero,
      }),
      [first.buffer],
    );
    await Promise.resolve();
    expect(done).toBe(false);
    expect(partial).toHaveLength(1);
    const d0 = partial[0] as LayerData;
    expect([...(d0.ready ?? [])]).toEqual([1, 0, 0]);
    expect([...d0.values.subarray(0, 2)]).toEqual([0, 2]);
    expect([d0.stats.min[0], d0.stats.max[0], d0.stats.zero_fraction[0]]).toEqual([0, 2, 0.5]);
    expect([d0.layerMin, d0.layerMax]).toEqual([-4, 6]); // the kernel's, exact from the start
    expect([s.global.lo, s.global.hi]).toEqual([-9, 9]);
    expect(s.peek("big")).toBeUndefined();
    m.reply(part({ ...three, chunk: 2, channel_start: 2, channel_stop: 3 }), [f16Bytes([5, 6])]);
    expect([...(partial[1]?.ready ?? [])]).toEqual([1, 0, 1]);
    m.reply(part({ ...three, chunk: 2, channel_start: 2, channel_stop: 3 }), [f16Bytes([7, 7])]);
    expect(partial).toHaveLength(2); // a repeated part changes nothing
    m.reply(part({ ...three, chunk: 1, channel_start: 1, channel_stop: 2 }), [f16Bytes([-4, 3])]);
    const d = await p;
    expect(partial).toHaveLength(2); // the last part resolves the request instead
    m.reply(part({ ...three, chunk: 1, channel_start: 1, channel_stop: 2 }), [f16Bytes([7, 7])]);
    expect(partial).toHaveLength(2); // a late copy of a part of a settled request: dropped
    expect(d.ready).toBeUndefined();
    expect([...d.values]).toEqual([0, 2, -4, 3, 5, 6]);
    expect(d.stats).toEqual(computeStats(d.values, 3, 2));
    expect(s.peek("big")).toBe(d);
  });

  it("marks a channel sent in row ranges ready once all its rows are in", () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const ready: number[][] = [];
    s.on("partial", (d) => ready.push([...(d.ready ?? [])]));
    void s.layer("big");
    const big = { height: 3, width: 2, channels: 2, chunks: 4 };
    const rows = (chunk: number, ch: number, r0: number, r1: number) =>
      part({ ...big, chunk, channel_start: ch, channel_stop: ch + 1, row_start: r0, row_stop: r1 });
    m.reply(rows(0, 0, 0, 2), [f16Bytes([1, 2, 3, 4])]);
    m.reply(rows(2, 1, 0, 2), [f16Bytes([7, 8, 9, 10])]);
    m.reply(rows(1, 0, 2, 3), [f16Bytes([5, 6])]);
    expect(ready).toEqual([
      [0, 0],
      [0, 0],
      [1, 0],
    ]);
  });

  it("keeps a first part the kernel pushed unasked until the asked-for layer is whole", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const pushed = { request_id: null as unknown as number, chunks: 2, min: 1, max: 6 };
    m.reply(part({ ...pushed, chunk: 0, channel_start: 0, channel_stop: 1 }), [f16Bytes([1, 2])]);
    const early = s.partial("big");
    expect([...(early?.ready ?? [])]).toEqual([1, 0, 0]);
    expect([...(early?.values.subarray(0, 2) ?? [])]).toEqual([1, 2]);
    expect(s.partial("big", true)).toBeUndefined();
    expect(s.partial("other")).toBeUndefined();
    const p = s.layer("big"); // the view still asks: the push may not have come
    const two = { chunks: 2, min: 1, max: 6 };
    m.reply(part({ ...two, chunk: 0, channel_start: 0, channel_stop: 1 }), [f16Bytes([1, 2])]);
    m.reply(part({ ...two, chunk: 1, channel_start: 1, channel_stop: 3 }), [
      f16Bytes([3, 4, 5, 6]),
    ]);
    expect([...(await p).values]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.partial("big")).toBeUndefined(); // the pushed part's assembly is dropped
  });
});

describe("3-D layers (depth slices stacked along the rows)", () => {
  it("decodes a whole hwc volume to channel-major stacked slices and keeps its depth", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("vol");
    // 2 channels, depth 2, slices of 1 row × 2 columns; hwc: (d·h, w, c) interleaved
    const msg = layerMsg({ request_id: 1, layer: "vol", layout: "hwc", height: 1, depth: 2 });
    delete msg.stats;
    m.reply(msg, [f16Bytes([1, 5, 2, 6, 3, 7, 4, 8])]);
    const d = await p;
    expect([d.depth, d.height, d.width, d.channels]).toEqual([2, 2, 2, 2]);
    expect([...d.values]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(d.stats.max).toEqual([4, 8]);
  });

  it("reassembles row parts counted over depth × height rows", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("big");
    const vol = { height: 1, depth: 3, width: 2, channels: 1, chunks: 2 };
    const rows = (chunk: number, r0: number, r1: number) =>
      part({ ...vol, chunk, channel_start: 0, channel_stop: 1, row_start: r0, row_stop: r1 });
    m.reply(rows(1, 2, 3), [f16Bytes([5, 6])]);
    m.reply(rows(0, 0, 2), [f16Bytes([1, 2, 3, 4])]);
    const d = await p;
    expect(d.depth).toBe(3);
    expect([...d.values]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("rejects a depth that is not a positive int", async () => {
    const m = new FakeModel();
    const s = new Store(m.asModel());
    const p = s.layer("conv");
    m.reply(layerMsg({ request_id: 1, depth: 0 }), [f16Bytes([1, 2, 3, 4])]);
    await expect(p).rejects.toThrow("Expected depth a positive int, received 0");
  });
});
