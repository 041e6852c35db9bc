/**
 * Thumbnails for the overview: the first maps of a layer, block-averaged to at most 32 cells a
 * side (see fmwidget/overview.py). Asked of the kernel a few layers at a time (`get_thumbs`, only
 * for the columns in view), decoded and kept in a small cache. Where the kernel cannot answer
 * (the static export has no such request) a layer's full maps are asked for instead and
 * reduced here the same way.
 */
import { decodeFloat16 } from "../model/float16";
import { StaleError, type Store } from "../model/store";
import type { LayerData } from "../types";

/** Same limits as the kernel's THUMB_EDGE and THUMB_CHANNELS. */
export const THUMB_EDGE = 32;
export const THUMB_CHANNELS = 16;
/** Most layers in one request (the kernel accepts up to 64). */
const BATCH = 48;
/** Thumbnails kept (least recently used dropped first). */
const KEEP = 400;

export interface Thumb {
  layer: string;
  vector: boolean;
  /** Maps sent (or values, for a vector) and the layer's total. */
  channels: number;
  total: number;
  /** Thumbnail size in its own cells, and how many layer cells each one averages a side. */
  height: number;
  width: number;
  factor: number;
  /** The layer's map size. */
  srcHeight: number;
  srcWidth: number;
  /** Channel-major values, channels × height × width. */
  values: Float32Array;
  /** Finite range of each sent map (full resolution) and of the whole layer. */
  mapMin: number[];
  mapMax: number[];
  min: number;
  max: number;
}

/** Most values of a vector layer kept (the kernel's VECTOR_VALUES). */
const VECTOR_VALUES = 256;

/** Block means of the first `channels` maps of a decoded layer (mirror of overview.py). */
export function thumbFromLayer(
  d: LayerData,
  vector = false,
  channels = THUMB_CHANNELS,
  edge = THUMB_EDGE,
): Thumb {
  const { height: H, width: W } = d;
  if (vector) {
    const n = Math.min(VECTOR_VALUES, d.values.length);
    return {
      layer: d.layer,
      vector: true,
      channels: n,
      total: d.values.length,
      height: 1,
      width: 1,
      factor: 1,
      srcHeight: 1,
      srcWidth: 1,
      values: d.values.slice(0, n),
      mapMin: [],
      mapMax: [],
      min: d.layerMin,
      max: d.layerMax,
    };
  }
  const c = Math.min(channels, d.channels);
  const f = Math.max(1, Math.ceil(Math.max(H, W) / edge));
  const h = Math.ceil(H / f);
  const w = Math.ceil(W / f);
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let sum = 0;
        let n = 0;
        for (let r = i * f; r < Math.min(H, (i + 1) * f); r++) {
          for (let q = j * f; q < Math.min(W, (j + 1) * f); q++) {
            sum += d.values[(ch * H + r) * W + q] as number;
            n++;
          }
        }
        out[(ch * h + i) * w + j] = sum / n;
      }
    }
  }
  return {
    layer: d.layer,
    vector: false,
    channels: c,
    total: d.channels,
    height: h,
    width: w,
    factor: f,
    srcHeight: H,
    srcWidth: W,
    values: out,
    mapMin: d.stats.min.slice(0, c),
    mapMax: d.stats.max.slice(0, c),
    min: d.layerMin,
    max: d.layerMax,
  };
}

function num(v: unknown, fallback = 0): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

function nums(v: unknown, n: number): number[] {
  return Array.from({ length: n }, (_, i) => num(Array.isArray(v) ? v[i] : undefined));
}

/** The thumbnails of one `thumbs` reply (entries with an error are left out). */
export function decodeThumbs(msg: Record<string, unknown>, buffer: unknown): Thumb[] {
  const view =
    buffer instanceof ArrayBuffer
      ? new Uint8Array(buffer)
      : ArrayBuffer.isView(buffer)
        ? buffer
        : new Uint8Array(0);
  const all = decodeFloat16(view);
  const out: Thumb[] = [];
  for (const raw of Array.isArray(msg.layers) ? msg.layers : []) {
    const e = raw as Record<string, unknown>;
    if (typeof e?.layer !== "string" || e.error !== undefined) continue;
    const vector = Boolean(e.vector);
    const channels = num(e.channels);
    const height = num(e.height, 1);
    const width = num(e.width, 1);
    const offset = num(e.offset);
    const n = channels * height * width;
    if (offset < 0 || offset + n > all.length || !Number.isInteger(n)) {
      throw new Error(`thumbs for ${JSON.stringify(e.layer)} lie outside the buffer`);
    }
    const scale = num(e.scale, 1);
    const values = all.slice(offset, offset + n);
    if (scale !== 1) for (let i = 0; i < n; i++) values[i] = (values[i] as number) * scale;
    out.push({
      layer: e.layer,
      vector,
      channels,
      total: num(e.total, channels),
      height,
      width,
      factor: num(e.factor, 1),
      srcHeight: num(e.src_height, height),
      srcWidth: num(e.src_width, width),
      values,
      mapMin: nums(e.map_min, vector ? 0 : channels),
      mapMax: nums(e.map_max, vector ? 0 : channels),
      min: num(e.min),
      max: num(e.max),
    });
  }
  return out;
}

/** Thumbnails by layer name, asked for as columns come into view. */
export class ThumbCache {
  private readonly thumbs = new Map<string, Thumb>();
  private readonly pending = new Set<string>();
  private readonly failed = new Set<string>();
  private readonly listeners = new Set<() => void>();
  /** false once the kernel refused `get_thumbs` (e.g. the static export): use full layers. */
  private kernelThumbs = true;
  private readonly off: () => void;

  /** `isVector(name)`: whether a layer outputs a vector (for thumbnails made here). */
  constructor(
    private readonly store: Store,
    private readonly isVector: (layer: string) => boolean = () => false,
  ) {
    this.off = store.on("invalidate", () => {
      this.thumbs.clear();
      this.pending.clear();
      this.failed.clear();
      this.emit();
    });
  }

  get(layer: string): Thumb | undefined {
    const t = this.thumbs.get(layer);
    if (t) {
      this.thumbs.delete(layer); // most recently used last
      this.thumbs.set(layer, t);
    }
    return t;
  }

  /** Whether the layer's thumbnail could not be had (no maps). */
  hasFailed(layer: string): boolean {
    return this.failed.has(layer);
  }

  /** Called when thumbnails arrive (or the input changed). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Asks for the layers not cached nor on their way, a batch at a time. */
  want(layers: readonly string[]): void {
    const missing = layers.filter(
      (l) => !this.thumbs.has(l) && !this.pending.has(l) && !this.failed.has(l),
    );
    for (let i = 0; i < missing.length; i += BATCH) this.fetch(missing.slice(i, i + BATCH));
  }

  private fetch(names: string[]): void {
    for (const n of names) this.pending.add(n);
    if (!this.kernelThumbs) {
      for (const n of names) this.fromLayer(n);
      return;
    }
    const version = this.store.version;
    this.store
      .ask((request_id) => ({ type: "get_thumbs", layers: names, version, request_id }))
      .then(
        (r) => {
          for (const t of decodeThumbs(r.msg, r.buffers[0])) this.put(t);
          for (const n of names) {
            if (this.pending.delete(n)) this.failed.add(n); // the kernel had none for it
          }
          this.emit();
        },
        (e) => {
          if (e instanceof StaleError) return;
          this.kernelThumbs = false; // no get_thumbs here: reduce full layers instead
          for (const n of names) this.fromLayer(n);
        },
      );
  }

  private fromLayer(name: string): void {
    this.store.layer(name, false).then(
      (d) => {
        if (!this.pending.has(name)) return;
        this.put(thumbFromLayer(d, this.isVector(name)));
        this.emit();
      },
      (e) => {
        if (e instanceof StaleError || !this.pending.delete(name)) return;
        this.failed.add(name);
        this.emit();
      },
    );
  }

  private put(t: Thumb): void {
    this.pending.delete(t.layer);
    this.thumbs.set(t.layer, t);
    while (this.thumbs.size > KEEP) {
      const oldest = this.thumbs.keys().next().value as string;
      this.thumbs.delete(oldest);
    }
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  dispose(): void {
    this.off();
    this.listeners.clear();
  }
}
