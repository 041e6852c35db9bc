/**
 * The data of a static (kernel-free) export page, written by `fmwidget/export.py`:
 * a JSON manifest in `<script id="fmw-manifest" type="application/json">` and binary payloads
 * in base64 `<script type="application/octet-stream" data-codec="raw|deflate">` elements.
 */
import type { LayerDataMsg, Traits } from "../types";
import type { EmbeddedExamples, OverlayEntry } from "./examples";

export type Codec = "raw" | "deflate";

/** A reference to one embedded binary payload. */
export interface BlobRef {
  blob: string;
  codec: Codec;
  /** Decoded size in bytes. */
  size: number;
}

/** One `get_layer` answer the kernel would have sent: its header and bytes, or its error. */
export interface MapEntry extends Partial<BlobRef> {
  layer: string;
  pre_activation: boolean;
  header?: Omit<LayerDataMsg, "request_id">;
  error?: string;
}

/** Per-axis `[start, stop)` tables; 1D layers have a single `rows` entry `[0, 1]`. */
export interface PoolGeometry {
  rows: [number, number][];
  cols: [number, number][];
  /** Max pooling: per (channel, row, col) of the pooled map, the row-major index of the
   * winning cell inside its window (exact, from the float32 maps). Null for average pooling. */
  argmax: (BlobRef & { dtype: "uint8" | "uint16" | "uint32"; shape: number[] }) | null;
  /** Max pooling: one bit per (channel, row, col) of the pooled layer's *input* map (little
   * bit order): its float32 value equals the winner of the first window holding it. */
  ties?: (BlobRef & { shape: [number, number, number] }) | null;
}

export interface LayerGeometryInfo {
  rank: number;
  pool?: PoolGeometry;
  pool_error?: string;
}

export interface Manifest {
  format: number;
  state: Traits;
  maps: MapEntry[];
  geometry: Record<string, LayerGeometryInfo>;
  pre_activation: boolean;
  /** The top examples' `get_examples` replies, when the widget had examples. */
  examples?: EmbeddedExamples;
  /** Grad-CAM and saliency replies for the shown sample (see fmwidget/export_overlays.py). */
  overlays?: OverlayEntry[];
}

export function readManifest(doc: Document): Manifest {
  const el = doc.getElementById("fmw-manifest");
  if (!el) throw new Error("fmwidget export: the page has no #fmw-manifest element");
  const m = JSON.parse(el.textContent ?? "") as Manifest;
  if (m.format !== 1) throw new Error(`fmwidget export: unknown format ${String(m.format)}`);
  return m;
}

/** base64 → bytes. */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Inflates zlib ("deflate") data with the browser's DecompressionStream. */
export async function inflate(data: Uint8Array): Promise<Uint8Array> {
  if (typeof DecompressionStream === "undefined") {
    throw new Error("this browser has no DecompressionStream: re-export with compress=False");
  }
  const stream = new Blob([data as BlobPart])
    .stream()
    .pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reads embedded payloads by id, decoding each once. */
export class BlobReader {
  private readonly cache = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly lookup: (id: string) => string | null) {}

  static fromDocument(doc: Document): BlobReader {
    return new BlobReader((id) => doc.getElementById(id)?.textContent ?? null);
  }

  read(ref: BlobRef): Promise<Uint8Array> {
    let p = this.cache.get(ref.blob);
    if (!p) {
      p = this.decode(ref);
      this.cache.set(ref.blob, p);
      p.catch(() => this.cache.delete(ref.blob));
    }
    return p;
  }

  private async decode(ref: BlobRef): Promise<Uint8Array> {
    const text = this.lookup(ref.blob);
    if (text === null) throw new Error(`fmwidget export: payload ${ref.blob} is missing`);
    const raw = fromBase64(text);
    const bytes = ref.codec === "deflate" ? await inflate(raw) : raw;
    if (bytes.byteLength !== ref.size) {
      throw new Error(
        `fmwidget export: payload ${ref.blob} has ${bytes.byteLength} bytes, expected ${ref.size}`,
      );
    }
    return bytes;
  }
}
