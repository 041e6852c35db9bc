// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { FakeModel, f16Bytes } from "./testing/fake-model";
import type { LayerSpec } from "./types";
import widget from "./widget";

const HOSTILE = "<img src=x onerror=alert(1)>/<b>x</b>";

function spec(
  index: number,
  name: string,
  kind: string,
  h: number,
  w: number,
  c: number,
): LayerSpec {
  return {
    index,
    name,
    kind,
    class_name: kind,
    shape: [h, w, c],
    spatial: true,
    height: h,
    width: w,
    channels: c,
    signed: false,
    inputs: index ? [index - 1] : [],
    fused_activation: null,
  };
}

const layers = [spec(0, "input", "input", 2, 2, 1), spec(1, HOSTILE, "conv", 2, 3, 2)];

function answer(m: FakeModel, from = 0, to?: number): void {
  for (const msg of m.sent.slice(from, to)) {
    if (msg.type !== "get_layer") continue;
    const s = layers.find((l) => l.name === msg.layer);
    if (!s) continue;
    const n = (s.height ?? 1) * (s.width ?? 1) * (s.channels ?? 1);
    const values = Array.from({ length: n }, (_, i) => i);
    const per = n / (s.channels ?? 1);
    const chans = Array.from({ length: s.channels ?? 1 }, (_, c) => c);
    m.reply(
      {
        type: "layer_data",
        request_id: msg.request_id,
        layer: s.name,
        pre_activation: false,
        version: msg.version,
        height: s.height,
        width: s.width,
        channels: s.channels,
        encoding: "float16",
        stats: {
          min: chans.map((c) => c * per),
          max: chans.map((c) => c * per + per - 1),
          mean: chans.map((c) => c * per + (per - 1) / 2),
          zero_fraction: chans.map((c) => (c === 0 ? 1 / per : 0)),
          nan_count: chans.map(() => 0),
        },
        layer_min: 0,
        layer_max: n - 1,
      },
      [f16Bytes(values)],
    );
  }
}

async function setup() {
  const m = new FakeModel({
    model_name: "net <script>",
    layers,
    layer: HOSTILE,
    selected_filters: [],
    hover: null,
    trace_target: null,
    colormap_range: "layer",
    view: "grid",
    error: "",
  });
  const model = m.asModel();
  const signal = new AbortController().signal;
  const def = widget();
  const stopInit = await def.initialize({ model, signal, experimental: {} as never });
  const el = document.createElement("div");
  document.body.append(el);
  const stop = await def.render({
    model,
    el,
    signal,
    host: {} as never,
    experimental: {} as never,
  });
  await Promise.resolve();
  return { m, el, def, stop, stopInit, model, signal };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("widget", () => {
  it("loads the layer set while the grid was hidden when the grid is shown again", async () => {
    const { m, el } = await setup();
    answer(m);
    await flush();
    m.set("view", "overview");
    m.set("layer", "input"); // from Python while the network is shown: nothing loads yet
    await flush();
    const before = m.sent.filter((s) => s.type === "get_layer").length;
    const root = el.querySelector(".fmw-root") as HTMLElement;
    expect(root.dataset.view).toBe("overview");
    const tab = root.querySelector<HTMLButtonElement>(".fmw-tab[data-view='grid']");
    tab?.click();
    await flush();
    expect(root.dataset.view).toBe("grid");
    expect(m.state.view).toBe("grid");
    answer(m, before);
    await flush();
    expect(root.querySelector(".fmw-info")?.textContent).toMatch(/^1 maps of 2×2/);
  });

  it("renders model text as text, never HTML", async () => {
    const { el } = await setup();
    const root = el.querySelector(".fmw-root") as HTMLElement;
    expect(root.querySelector(".fmw-title")?.textContent).toBe("net <script> — 2 layers");
    const items = [...root.querySelectorAll<HTMLElement>(".fmw-layer")];
    expect(items.map((i) => i.dataset.index)).toEqual(["0", "1"]);
    expect(items[1]?.textContent).toContain(HOSTILE);
    expect(root.querySelector("img, b, script")).toBeNull();
    expect(items[1]?.getAttribute("aria-selected")).toBe("true");
  });

  it("requests maps as binary, paints and marks ready, hover fills the readout", async () => {
    const { m, el } = await setup();
    expect(m.sent.map((s) => s.layer)).toEqual(["input", HOSTILE]);
    answer(m);
    await flush();
    const root = el.querySelector(".fmw-root") as HTMLElement;
    expect(root.dataset.ready).toBe("1");
    const grid = root.querySelector(".fmw-grid") as HTMLCanvasElement;
    expect(grid.width).toBeGreaterThan(0);
    expect(root.querySelector(".fmw-input")).not.toBeNull();
    // keyboard: first arrow lands on the first map's first cell, then moves
    const wrap = root.querySelector(".fmw-gridwrap") as HTMLElement;
    wrap.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    wrap.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    const ro = root.querySelector(".fmw-readout") as HTMLElement;
    expect({ ...ro.dataset }).toEqual({
      layer: HOSTILE,
      filter: "0",
      row: "0",
      col: "1",
      value: "1",
    });
    wrap.dispatchEvent(new KeyboardEvent("keydown", { key: "]", bubbles: true }));
    expect(ro.dataset.filter).toBe("1");
    expect(ro.dataset.value).toBe("7");
    await new Promise((r) => setTimeout(r, 100));
    expect(m.state.hover).toEqual({ layer: HOSTILE, filter: 1, row: 0, col: 1, value: 7 });
    wrap.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(m.state.selected_filters).toEqual([1]);
    expect(m.state.trace_target).toEqual({ layer: HOSTILE, filter: 1, row: 0, col: 1 });
  });

  it("follows traits set from Python", async () => {
    const { m, el } = await setup();
    answer(m);
    await flush();
    m.set("hover", { layer: HOSTILE, filter: 1, row: 1, col: 2, value: 11 });
    const ro = el.querySelector(".fmw-readout") as HTMLElement;
    expect(ro.dataset.value).toBe("11");
    const before = m.sent.length;
    m.set("layer", "input");
    expect(m.sent.length).toBe(before); // input is cached already
    await flush();
    expect(el.querySelector(".fmw-layer[aria-selected=true]")?.getAttribute("data-index")).toBe(
      "0",
    );
    m.set("error", "Expected input of shape (28, 28, 1), received (32, 32, 3)");
    expect(el.querySelector(".fmw-error")?.textContent).toMatch(/received \(32, 32, 3\)/);
  });

  it("shares one store between views and cleans up its listeners", async () => {
    const { m, def, model, signal, stop, stopInit } = await setup();
    const el2 = document.createElement("div");
    const stop2 = await def.render({
      model,
      el: el2,
      signal,
      host: {} as never,
      experimental: {} as never,
    });
    expect(m.sent).toHaveLength(2); // the second view reuses the pending requests
    answer(m);
    await flush();
    expect(el2.querySelector(".fmw-root")?.getAttribute("data-ready")).toBe("1");
    if (typeof stop === "function") await stop();
    if (typeof stop2 === "function") await stop2();
    for (const ev of ["change:layer", "change:hover", "change:selected_filters", "change:layers"]) {
      expect(m.listenerCount(ev)).toBe(0);
    }
    expect(m.listenerCount("msg:custom")).toBe(1);
    if (typeof stopInit === "function") await stopInit();
    expect(m.listenerCount("msg:custom")).toBe(0);
  });

  it("drops maps of an older data_version and reloads", async () => {
    const { m, el } = await setup();
    m.set("data_version", 2);
    expect(m.sent.slice(2).map((s) => s.version)).toEqual([2, 2]);
    answer(m, 0, 2); // replies to version-1 requests: ignored
    await flush();
    expect(el.querySelector(".fmw-root")?.getAttribute("data-ready")).toBeNull();
    answer(m, 2);
    await flush();
    expect(el.querySelector(".fmw-root")?.getAttribute("data-ready")).toBe("1");
  });
});
