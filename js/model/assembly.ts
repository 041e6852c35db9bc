/**
 * A layer being reassembled from the parts it was sent in (channel ranges, or row ranges of
 * one channel: js/README.md "Wire formats"). Each part is decoded into place as it arrives,
 * in any order; a channel is ready once all its rows are in, and its statistics are taken
 * then, so the layer so far (`partial`) can be painted while the rest arrive.
 */
import type { FilterStats, LayerData, LayerDataMsg } from "../types";
import { emptyStats, layerFromValues, partRange, placePart, statsInto } from "./decode";

export class Assembly {
  readonly values: Float32Array;
  /** Parts received. */
  readonly got = new Set<number>();
  /** Rows received per channel; a channel is ready when it has all `height` rows. */
  private readonly rows: Int32Array;
  private readonly ready: Uint8Array;
  /** Filled channel by channel as they complete. */
  private readonly stats: FilterStats;
  /** The layer so far, as last handed out by `partial()`. */
  latest?: LayerData;

  /** Starts from the first part to arrive (its header describes the whole layer). */
  constructor(readonly msg: LayerDataMsg) {
    const c = msg.channels;
    this.values = new Float32Array(c * msg.height * msg.width);
    this.rows = new Int32Array(c);
    this.ready = new Uint8Array(c);
    this.stats = emptyStats(c);
  }

  get chunks(): number {
    return partRange(this.msg).chunks;
  }

  get complete(): boolean {
    return this.got.size >= this.chunks;
  }

  /**
   * Places one part. Returns false for a part already placed (it changes nothing); throws
   * when the part's header does not match the first part's or its buffer is malformed.
   */
  add(msg: LayerDataMsg, buffer: unknown): boolean {
    const { height: h, width: w, channels: c } = msg;
    const { chunk, chunks, c0, c1, r0, r1 } = partRange(msg);
    const a = this.msg;
    if (a.chunks !== chunks || a.channels !== c || a.height !== h || a.width !== w) {
      throw new Error(`Part ${chunk} of ${JSON.stringify(msg.layer)} does not match part 0`);
    }
    if (this.got.has(chunk)) return false;
    placePart(this.values, msg, buffer);
    this.got.add(chunk);
    for (let ch = c0; ch < c1; ch++) {
      this.rows[ch] = (this.rows[ch] as number) + r1 - r0;
      if (this.rows[ch] !== h) continue;
      this.ready[ch] = 1;
      statsInto(this.stats, this.values, h * w, ch, ch + 1);
    }
    return true;
  }

  /** How many channels are complete. */
  get readyCount(): number {
    return this.ready.reduce((x, y) => x + y, 0);
  }

  /** The layer so far: `ready` marks its complete channels. */
  partial(): LayerData {
    const partial = layerFromValues({ ...this.msg, stats: this.stats }, this.values);
    partial.ready = this.ready;
    this.latest = partial;
    return partial;
  }

  /** The whole layer, once every part is in. */
  whole(): LayerData {
    const { height: h, width: w, channels: c } = this.msg;
    for (let ch = 0; ch < c; ch++) {
      if (!this.ready[ch]) statsInto(this.stats, this.values, h * w, ch, ch + 1); // overlaps
    }
    return layerFromValues({ ...this.msg, stats: this.stats }, this.values);
  }
}
