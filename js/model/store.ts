/**
 * One Store per widget model, created in `initialize` and shared by every view of that model.
 *
 * - Request plumbing: `get_layer` / `get_trace` custom messages carry a fresh `request_id` and
 *   the current `data_version`; replies are matched by id. A reply whose version is not the
 *   current `data_version` is dropped (its promise rejects with `StaleError`).
 * - Layer cache: decoded layers (Float32Array, channel-major C×H×W) keyed by
 *   `layer + pre_activation`, in a byte-capped LRU (`DEFAULT_CACHE_BYTES`, 128 MiB of decoded
 *   float32 by default; a single layer bigger than the cap is still kept alone). Concurrent
 *   requests for the same key share one message. A new `data_version` empties the cache.
 * - Unsolicited `layer_data` (no pending request, current version) is cached too, so the
 *   kernel may push layers ahead of time; unsolicited `trace` messages (the kernel's answer to
 *   a change of the `trace_target` trait) are broadcast to views as the "trace" event. Replies
 *   to `trace()` requests only resolve their promise.
 *
 * - Layers sent in parts are decoded into place as the parts arrive (any order); after each
 *   part but the last, a "partial" event carries the layer so far (`ready` marks the
 *   channels that are complete), so views paint the first channels while the rest arrive.
 *
 * - Receptive-field tables travel in each layer's `layer_data` header (`receptive_field`), not
 *   in the `layers` trait: `geometry(spec)` gives them once a part of the layer has arrived
 *   (the static export puts them in `layers` instead).
 *
 * Turning a message into values (buffers, scale, layout, statistics, NaN strings) is
 * ./decode.ts's job, reassembling parts ./assembly.ts's; this module keeps requests and the cache.
 */
import type { AnyModel } from "@anywidget/types";
import { GlobalRange } from "../stats";
import type {
  Cell,
  ErrorMsg,
  LayerData,
  LayerDataMsg,
  LayerGeometry,
  LayerSpec,
  TraceMsg,
  Traits,
} from "../types";
import { Assembly } from "./assembly";
import { decodeLayer, reviveNumbers, stackSlices } from "./decode";
import { Emitter } from "./emitter";
import { ByteLru } from "./lru";

export const DEFAULT_CACHE_BYTES = 128 * 1024 * 1024;
export const REQUEST_TIMEOUT_MS = 120_000;

/** Raised for replies (or pending requests) that belong to an older `data_version`. */
export class StaleError extends Error {
  constructor() {
    super("stale reply: the input changed");
    this.name = "StaleError";
  }
}

type Pending = {
  resolve: (v: never) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
};

/** The reply to {@link Store.ask}: the message and its buffers. */
export interface Reply {
  msg: Record<string, unknown>;
  buffers: unknown[];
}

/** Arrival of one part of a layer sent in several messages (`chunks` > 1). */
export interface Progress {
  layer: string;
  preActivation: boolean;
  received: number;
  chunks: number;
}

type Events = {
  trace: TraceMsg;
  error: string;
  invalidate: number;
  layer: LayerData;
  progress: Progress;
  /** A layer sent in parts, so far (its `ready` marks the complete channels). */
  partial: LayerData;
};

export interface StoreOptions {
  cacheBytes?: number;
  timeoutMs?: number;
}

export function cacheKey(layer: string, pre: boolean): string {
  return `${pre ? "1" : "0"}:${layer}`;
}

export class Store {
  readonly cache: ByteLru<LayerData>;
  readonly global = new GlobalRange();
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Requests in flight by what they ask for: callers asking the same share one message. */
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly events = new Emitter<Events>();
  private readonly assembling = new Map<string, Assembly>();
  /** Receptive-field tables by layer name, from `layer_data` headers of this version. */
  private readonly fields = new Map<string, LayerGeometry | null>();
  private readonly timeoutMs: number;
  private disposed = false;

  constructor(
    private readonly model: AnyModel<Traits>,
    opts: StoreOptions = {},
  ) {
    this.cache = new ByteLru<LayerData>(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    model.on("msg:custom", this.onMessage);
    model.on("change:data_version", this.onVersion);
  }

  get version(): number {
    return Number(this.model.get("data_version") ?? 0);
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof Events>(event: K, cb: (v: Events[K]) => void): () => void {
    return this.events.on(event, cb);
  }

  /**
   * The receptive-field tables of `spec`'s layer: its own (the static export's layers carry
   * them), else those of its `layer_data` reply; null: unknown geometry; undefined: none of
   * the layer has arrived yet.
   */
  geometry(spec: LayerSpec | null | undefined): LayerGeometry | null | undefined {
    if (!spec) return undefined;
    return spec.receptive_field !== undefined ? spec.receptive_field : this.fields.get(spec.name);
  }

  /** A cached layer, without requesting it. */
  peek(layer: string, pre = false): LayerData | undefined {
    return this.cache.get(cacheKey(layer, pre));
  }

  /**
   * The most complete part of a layer still arriving in parts (asked for, or pushed by the
   * kernel unasked, as it does with the shown layer's first part when the widget is made).
   */
  partial(layer: string, pre = false): LayerData | undefined {
    let best: LayerData | undefined;
    let most = 0;
    for (const a of this.assembling.values()) {
      const d = a.latest;
      if (!d || d.layer !== layer || d.preActivation !== pre) continue;
      const n = a.readyCount;
      if (n > most) [best, most] = [d, n];
    }
    return best;
  }

  /**
   * A layer's maps: from the cache, or requested once from the kernel. `firstChannels`: how
   * many channels the grid shows first (the kernel sends those in a first, small part).
   */
  layer(layer: string, pre = false, firstChannels?: number): Promise<LayerData> {
    const key = cacheKey(layer, pre);
    const hit = this.cache.get(key);
    if (hit) return Promise.resolve(hit);
    const version = this.version;
    const first =
      firstChannels !== undefined && Number.isInteger(firstChannels) && firstChannels > 0
        ? { first_channels: firstChannels }
        : {};
    return this.shared(`layer:${key}`, () =>
      this.request<LayerData>((request_id) => ({
        type: "get_layer",
        layer,
        pre_activation: pre,
        version,
        request_id,
        ...first,
      })),
    );
  }

  /** Asks the kernel for the trace of one cell (views asking for the same cell share one request). */
  trace(cell: Cell): Promise<TraceMsg> {
    const version = this.version;
    const { layer, filter, row, col, depth } = cell;
    const key = JSON.stringify([version, layer, filter, row, col, depth ?? null]);
    const at = depth === undefined ? { row, col } : { depth, row, col };
    return this.shared(`trace:${key}`, () =>
      this.request<TraceMsg>((request_id) => ({
        type: "get_trace",
        layer,
        filter,
        ...at,
        version,
        request_id,
      })),
    );
  }

  /**
   * A request of a kind this store does not decode itself (e.g. `get_thumbs` for the
   * overview): resolves with the reply of the same `request_id` and its buffers, rejects on an
   * `error` reply or a stale version, like the others. `timeoutMs`: for work the kernel
   * reports in `status` that may take minutes (a feature visualisation).
   */
  ask(build: (request_id: number) => object, timeoutMs = this.timeoutMs): Promise<Reply> {
    return this.request<Reply>(build, timeoutMs);
  }

  /** The request in flight under `key`, or a new one from `start` (forgotten once settled). */
  private shared<T>(key: string, start: () => Promise<T>): Promise<T> {
    const running = this.running.get(key);
    if (running) return running as Promise<T>;
    const p = start().finally(() => {
      if (this.running.get(key) === p) this.running.delete(key);
    });
    this.running.set(key, p);
    return p;
  }

  private request<T>(build: (id: number) => object, timeoutMs = this.timeoutMs): Promise<T> {
    if (this.disposed) return Promise.reject(new Error("fmwidget: the widget was closed"));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) {
          reject(new Error(`fmwidget: no reply from the kernel after ${timeoutMs / 1000} s`));
        }
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject, timer });
      this.model.send(build(id));
    });
  }

  private settle(id: unknown): Pending | undefined {
    if (typeof id !== "number") return undefined;
    const p = this.pending.get(id);
    if (p) {
      this.pending.delete(id);
      clearTimeout(p.timer);
    }
    return p;
  }

  private readonly onMessage = (msg: unknown, buffers?: unknown[]): void => {
    if (!msg || typeof msg !== "object") return;
    const m = msg as { type?: unknown; request_id?: unknown; version?: unknown };
    if (m.type === "layer_data") {
      this.onLayerData(msg as LayerDataMsg, buffers ?? []);
    } else if (m.type === "trace") {
      const t = reviveNumbers(msg) as TraceMsg;
      const p = this.settle(t.request_id);
      if (t.version !== this.version) {
        p?.reject(new StaleError());
        return;
      }
      if (p) p.resolve(t as never);
      else this.events.emit("trace", t);
    } else if (
      typeof m.type === "string" &&
      m.type !== "error" &&
      typeof m.request_id === "number"
    ) {
      const p = this.settle(m.request_id); // an ask() reply
      if (p && m.version !== this.version) p.reject(new StaleError());
      else p?.resolve({ msg, buffers: buffers ?? [] } as never);
    } else if (m.type === "error") {
      const e = msg as ErrorMsg;
      const text = String(e.message ?? "unknown error");
      const p = this.settle(e.request_id);
      // a pending request's caller decides what to show; unsolicited errors go to the views
      if (p) p.reject(new Error(text));
      else this.events.emit("error", text);
    }
  };

  private onLayerData(raw: LayerDataMsg, buffers: unknown[]): void {
    let msg: LayerDataMsg;
    try {
      msg = stackSlices(raw); // a 3-D layer: its depth slices stacked along the rows
    } catch (err) {
      this.fail(raw.request_id, err);
      return;
    }
    if (msg.version === this.version && msg.receptive_field !== undefined) {
      this.fields.set(String(msg.layer), msg.receptive_field);
    }
    if (msg.chunks !== undefined && msg.chunks !== 1) {
      this.onLayerChunk(msg, buffers);
      return;
    }
    if (msg.version !== this.version) {
      this.settle(msg.request_id)?.reject(new StaleError());
      return;
    }
    let data: LayerData;
    try {
      data = decodeLayer(msg, buffers[0]);
    } catch (err) {
      this.fail(msg.request_id, err);
      return;
    }
    this.accept(data, this.settle(msg.request_id));
  }

  /** A reply that cannot be used: its request rejects, or (unasked) views hear of it. */
  private fail(id: unknown, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    const p = this.settle(id);
    if (p) p.reject(e);
    else this.events.emit("error", e.message);
  }

  private accept(data: LayerData, p: Pending | undefined): void {
    const bytes = data.values.byteLength + 40 * data.channels + 256;
    const key = cacheKey(data.layer, data.preActivation);
    this.cache.set(key, data, bytes);
    this.assembling.delete(`u${key}`); // parts the kernel pushed unasked are not needed now
    this.global.add(data);
    p?.resolve(data as never);
    this.events.emit("layer", data);
  }

  /**
   * One part of a layer sent in parts: channels [channel_start, channel_stop) and rows
   * [row_start, row_stop) (all rows when absent). Parts are decoded into place as they
   * arrive, each followed by a "partial" event; the request resolves when all have.
   */
  private onLayerChunk(msg: LayerDataMsg, buffers: unknown[]): void {
    const key =
      typeof msg.request_id === "number"
        ? `r${msg.request_id}`
        : `u${cacheKey(String(msg.layer), Boolean(msg.pre_activation))}`;
    if (msg.version !== this.version) {
      this.assembling.delete(key);
      this.settle(msg.request_id)?.reject(new StaleError());
      return;
    }
    try {
      let a = this.assembling.get(key);
      if (!a && typeof msg.request_id === "number" && !this.pending.has(msg.request_id)) {
        return; // a late copy of a part of a request that was settled (or timed out)
      }
      if (!a) {
        a = new Assembly(msg);
        this.assembling.set(key, a);
      }
      if (!a.add(msg, buffers[0])) return; // a repeated part changes nothing
      this.events.emit("progress", {
        layer: msg.layer,
        preActivation: Boolean(msg.pre_activation),
        received: a.got.size,
        chunks: a.chunks,
      });
      if (!a.complete) {
        const partial = a.partial();
        if (partial.globalMin !== undefined) this.global.add(partial); // exact: the kernel's
        this.events.emit("partial", partial);
        return;
      }
      this.assembling.delete(key);
      this.accept(a.whole(), this.settle(msg.request_id));
    } catch (err) {
      this.assembling.delete(key);
      this.fail(msg.request_id, err);
    }
  }

  private readonly onVersion = (): void => {
    this.cache.clear();
    this.fields.clear();
    this.assembling.clear();
    this.global.reset();
    this.running.clear();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new StaleError());
      this.pending.delete(id);
    }
    this.events.emit("invalidate", this.version);
  };

  dispose(): void {
    this.disposed = true;
    this.model.off("msg:custom", this.onMessage);
    this.model.off("change:data_version", this.onVersion);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error("fmwidget: the widget was closed"));
    }
    this.pending.clear();
    this.running.clear();
    this.cache.clear();
    this.fields.clear();
    this.assembling.clear();
    this.events.clear();
  }
}
