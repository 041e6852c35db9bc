/** Colour bar with numbers: lo, 0 (diverging only) and hi. */
import { type ColorRange, LUT_SIZE, type Lut } from "../colormap";
import { ctx2d, h } from "../dom";
import { fmt3 } from "../format";

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
      const ctx = ctx2d(this.bar);
      if (ctx) {
        const img = ctx.createImageData(LUT_SIZE, 1);
        img.data.set(lut);
        ctx.putImageData(img, 0, 0);
      }
      this.lastLut = lut;
    }
    if (!range) {
      this.ticks.replaceChildren();
      return;
    }
    let lo = range.lo;
    let hi = range.hi;
    if (range.diverging) {
      const m = Math.max(Math.abs(lo), Math.abs(hi));
      lo = -m;
      hi = m;
    }
    const labels = range.diverging ? [fmt3(lo), "0", fmt3(hi)] : [fmt3(lo), fmt3(hi)];
    this.ticks.replaceChildren(...labels.map((t) => h("span", "fmw-num", t)));
    this.el.dataset.lo = String(lo);
    this.el.dataset.hi = String(hi);
  }
}
