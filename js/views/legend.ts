/** Colour bar with numbers: lo, 0 (diverging only) and hi. */
import { type ColorRange, LUT_SIZE, type Lut } from "../colormap";
import { ctx2d, h } from "../dom";
import { fmt3 } from "../format";

/** Ends and tick labels of a colour bar: diverging ranges are symmetric around 0. */
export function legendTicks(range: ColorRange): { lo: number; hi: number; labels: string[] } {
  let lo = range.lo;
  let hi = range.hi;
  if (range.diverging) {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -m;
    hi = m;
  }
  const labels = range.diverging ? [fmt3(lo), "0", fmt3(hi)] : [fmt3(lo), fmt3(hi)];
  return { lo, hi, labels };
}

/** Draws a colour table into a 256×1 canvas. */
export function paintBar(bar: HTMLCanvasElement, lut: Lut): void {
  bar.width = LUT_SIZE;
  bar.height = 1;
  const ctx = ctx2d(bar);
  if (!ctx) return;
  const img = ctx.createImageData(LUT_SIZE, 1);
  img.data.set(lut);
  ctx.putImageData(img, 0, 0);
}

export class Legend {
  readonly el = h("div", "fmw-legend");
  private readonly caption = h("span", "fmw-muted");
  private readonly bar = h("canvas");
  private readonly ticks = h("div", "fmw-legend-ticks");
  private lastLut: Lut | null = null;

  constructor() {
    this.bar.width = LUT_SIZE;
    this.bar.height = 1;
    this.el.append(this.caption, this.bar, this.ticks);
  }

  show(range: ColorRange | null, lut: Lut, caption: string): void {
    this.caption.textContent = caption;
    if (lut !== this.lastLut) {
      paintBar(this.bar, lut);
      this.lastLut = lut;
    }
    if (!range) {
      this.ticks.replaceChildren();
      return;
    }
    const { lo, hi, labels } = legendTicks(range);
    this.ticks.replaceChildren(...labels.map((t) => h("span", "fmw-num", t)));
    this.el.dataset.lo = String(lo);
    this.el.dataset.hi = String(hi);
  }
}
