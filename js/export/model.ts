/**
 * The static export's anywidget model: a LocalModel (get/set/on/off/save_changes/send in the
 * page) with no kernel behind it. `get_layer` is answered with the exact `layer_data` message
 * (header and bytes: float16, or float16_nonzero when packed) the kernel produced at export
 * time, in one part; `get_trace` is answered locally by `traceCell` from exact tables (see
 * ./trace.ts). Replies arrive asynchronously as `msg:custom` events, like a widget manager
 * delivers them.
 */
import { decodeValues } from "../model/decode";
import { LocalModel } from "../model/local-model";
import type { Traits } from "../types";
import { answerExamples, answerOverlay, NEEDS_KERNEL } from "./examples";
import type { BlobReader, Manifest, MapEntry } from "./manifest";
import { type PoolTable, traceCell } from "./trace";

function key(layer: string, pre: boolean): string {
  return `${pre ? 1 : 0}:${layer}`;
}

/** The pen and the upload run the model: the export has none. */
const DRAW_NEEDS_KERNEL =
  "This is a static export: a drawn or uploaded input runs the model in the kernel (open the notebook to draw).";

export class StaticModel extends LocalModel<Traits> {
  /** Messages the views sent (for tests). */
  readonly sent: unknown[] = [];
  private readonly maps = new Map<string, MapEntry>();
  private readonly bytes = new Map<string, Uint8Array>();
  /** Maps decoded for traces (channel-major float32), by key. */
  private readonly decoded = new Map<string, Float32Array>();
  private pools: Promise<Map<string, PoolTable>> | null = null;

  constructor(
    readonly manifest: Manifest,
    private readonly blobs: BlobReader,
  ) {
    super(structuredClone(manifest.state));
    for (const m of manifest.maps) this.maps.set(key(m.layer, m.pre_activation), m);
  }

  send(content: unknown): void {
    this.sent.push(content);
    void this.answer(content).then((reply) => {
      if (reply) this.emit("msg:custom", reply[0], reply[1]);
    });
  }

  /** The reply the kernel would send: `[content, buffers]`. */
  async answer(content: unknown): Promise<[object, DataView[]] | null> {
    const msg = (content ?? {}) as Record<string, unknown>;
    const rid = typeof msg.request_id === "number" ? msg.request_id : null;
    try {
      if (msg.type === "get_layer") {
        const entry = this.maps.get(key(String(msg.layer), Boolean(msg.pre_activation)));
        if (!entry) throw new Error(this.missingMap(msg.layer, Boolean(msg.pre_activation)));
        if (entry.error !== undefined || !entry.header) throw new Error(entry.error ?? "no data");
        const data = await this.load(entry);
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        return [{ ...entry.header, request_id: rid }, [view]];
      }
      if (msg.type === "get_trace") {
        return [{ type: "trace", request_id: rid, ...(await this.trace(msg)) }, []];
      }
      if (msg.type === "get_examples") {
        const [head, buffers] = await answerExamples(this.manifest.examples, this.blobs, msg);
        const version = this.state.data_version;
        return [{ ...head, request_id: rid, version }, buffers];
      }
      if (msg.type === "get_overlay") {
        const [head, buffers] = await answerOverlay(this.manifest.overlays, this.blobs, msg);
        return [{ ...head, request_id: rid, version: this.state.data_version }, buffers];
      }
      if (msg.type === "get_filter_image") throw new Error(NEEDS_KERNEL);
      if (msg.type === "set_input") throw new Error(DRAW_NEEDS_KERNEL);
      throw new Error(
        `Expected message type 'get_layer', 'get_trace' or 'get_examples', received ${JSON.stringify(msg.type)}.`,
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return [{ type: "error", request_id: rid, message }, []];
    }
  }

  private missingMap(layer: unknown, pre: boolean): string {
    const known = this.manifest.state.layers.some((l) => l.name === layer);
    if (!known) return `Unknown layer ${JSON.stringify(layer)}.`;
    if (pre && !this.manifest.pre_activation) {
      return "Pre-activation maps are not in this export (save_html(..., pre_activation=True) includes them).";
    }
    return `Layer ${JSON.stringify(layer)} has no ${pre ? "pre-activation " : ""}map in this export.`;
  }

  private async load(entry: MapEntry): Promise<Uint8Array> {
    const k = key(entry.layer, entry.pre_activation);
    const hit = this.bytes.get(k);
    if (hit) return hit;
    if (!entry.blob || !entry.codec || entry.size === undefined) throw new Error("no data");
    const data = await this.blobs.read({ blob: entry.blob, codec: entry.codec, size: entry.size });
    this.bytes.set(k, data);
    return data;
  }

  private poolTables(): Promise<Map<string, PoolTable>> {
    if (!this.pools) {
      this.pools = (async () => {
        const out = new Map<string, PoolTable>();
        for (const [name, geo] of Object.entries(this.manifest.geometry)) {
          const pool = geo.pool;
          if (!pool) continue;
          let argmax: ArrayLike<number> | null = null;
          if (pool.argmax) {
            const b = await this.blobs.read(pool.argmax);
            const a = b.slice(); // aligned copy (little-endian hosts, as every browser is)
            argmax =
              pool.argmax.dtype === "uint8"
                ? a
                : pool.argmax.dtype === "uint16"
                  ? new Uint16Array(a.buffer)
                  : new Uint32Array(a.buffer);
          }
          let ties: PoolTable["ties"] = null;
          if (pool.ties) {
            const [, height, width] = pool.ties.shape;
            ties = { bits: await this.blobs.read(pool.ties), height, width };
          }
          out.set(name, { rows: pool.rows, cols: pool.cols, argmax, ties });
        }
        return out;
      })();
      this.pools.catch(() => {
        this.pools = null;
      });
    }
    return this.pools;
  }

  /** One value of a loaded map, as the grid shows it (NaN when not loaded / not exported). */
  private value(layer: string, pre: boolean, f: number, r: number, c: number): number {
    const k = key(layer, pre);
    const h = this.maps.get(k)?.header;
    const data = this.bytes.get(k);
    if (!h || !data) return Number.NaN;
    let values = this.decoded.get(k);
    if (!values) {
      // every encoding the kernel sends (float16, float16_nonzero), channel-major, scaled
      values = decodeValues({ ...h, request_id: 0 }, data);
      this.decoded.set(k, values);
    }
    return values[(f * h.height + r) * h.width + c] ?? Number.NaN;
  }

  /** The trace message body for a `get_trace` request (structure exact, values float16). */
  async trace(msg: Record<string, unknown>): Promise<object> {
    const pools = await this.poolTables();
    const needed = new Set<string>();
    const geometry = this.manifest.geometry;
    const ctx = {
      layers: this.manifest.state.layers,
      rank: (name: string) => geometry[name]?.rank,
      pools,
      value: (layer: string, pre: boolean, f: number, r: number, c: number) => {
        needed.add(key(layer, pre));
        return this.value(layer, pre, f, r, c);
      },
    };
    const cell = { layer: msg.layer, filter: msg.filter, row: msg.row, col: msg.col };
    traceCell(ctx, cell); // first pass: which maps the values come from
    await Promise.all(
      [...needed].map((k) => {
        const entry = this.maps.get(k);
        return entry?.header ? this.load(entry) : Promise.resolve(null);
      }),
    );
    return { version: this.state.data_version, ...traceCell(ctx, cell) };
  }
}
