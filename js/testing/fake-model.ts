/**
 * A minimal in-memory stand-in for the anywidget model (tests only, not bundled).
 * `sent` records messages the browser sent; `reply` delivers a custom message to listeners.
 */
import type { AnyModel } from "@anywidget/types";
import type { Traits } from "../types";

type Cb = (...args: unknown[]) => void;

export class FakeModel {
  readonly state: Record<string, unknown>;
  readonly sent: Record<string, unknown>[] = [];
  saves = 0;
  private readonly handlers = new Map<string, Set<Cb>>();

  constructor(state: Partial<Traits> = {}) {
    this.state = { data_version: 1, layers: [], layer: "", ...state };
  }

  get(key: string): unknown {
    return this.state[key];
  }

  set(key: string, value: unknown): void {
    this.state[key] = value;
    for (const cb of this.handlers.get(`change:${key}`) ?? []) cb();
  }

  on(name: string, cb: Cb): void {
    let set = this.handlers.get(name);
    if (!set) {
      set = new Set();
      this.handlers.set(name, set);
    }
    set.add(cb);
  }

  off(name?: string | null, cb?: Cb | null): void {
    if (!name) {
      this.handlers.clear();
      return;
    }
    if (!cb) this.handlers.delete(name);
    else this.handlers.get(name)?.delete(cb);
  }

  listenerCount(name: string): number {
    return this.handlers.get(name)?.size ?? 0;
  }

  save_changes(): void {
    this.saves++;
  }

  send(content: Record<string, unknown>): void {
    this.sent.push(content);
  }

  reply(msg: unknown, buffers: DataView[] = []): void {
    for (const cb of this.handlers.get("msg:custom") ?? []) cb(msg, buffers);
  }

  asModel(): AnyModel<Traits> {
    return this as unknown as AnyModel<Traits>;
  }
}

/** float16 little-endian bytes of small exact values (integers and halves up to 2048). */
export function f16Bytes(values: number[]): DataView {
  const out = new DataView(new ArrayBuffer(values.length * 2));
  values.forEach((v, i) => {
    out.setUint16(i * 2, toHalf(v), true);
  });
  return out;
}

function toHalf(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  if (v === Number.POSITIVE_INFINITY) return 0x7c00;
  if (v === Number.NEGATIVE_INFINITY) return 0xfc00;
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const frac = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | frac;
}
