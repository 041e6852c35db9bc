import { describe, expect, it } from "vitest";
import { FakeModel, f16Bytes } from "../testing/fake-model";
import type { LayerDataMsg } from "../types";
import { StaleError, Store } from "./store";

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

describe("Store", () => {
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
