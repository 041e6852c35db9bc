/**
 * The unit tests' anywidget model (not bundled): a LocalModel that records what the browser
 * sends (`sent`) and how often it saved (`saves`); `reply` plays the kernel, delivering a
 * custom message to the listeners.
 */
import type { AnyModel } from "@anywidget/types";
import { LocalModel } from "../model/local-model";
import type { Traits } from "../types";

export class FakeModel extends LocalModel<Traits> {
  readonly sent: Record<string, unknown>[] = [];
  saves = 0;

  constructor(state: Partial<Traits> = {}) {
    super({ data_version: 1, layers: [], layer: "", ...state } as Traits);
  }

  override save_changes(): void {
    this.saves++;
  }

  send(content: Record<string, unknown>): void {
    this.sent.push(content);
  }

  reply(msg: unknown, buffers: DataView[] = []): void {
    this.emit("msg:custom", msg, buffers);
  }

  asModel(): AnyModel<Traits> {
    return this;
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
