/** The step-through's pieces: coloured number tables, the kernel's scale and bar, its CSS. */
import { type ColorRange, type Lut, lutIndex, namedLut, rangeToAffine } from "../colormap";
import { h } from "../dom";
import { fmt3 } from "../format";
import type { ConvArithmetic } from "../types";
import { legendTicks, paintBar } from "./legend";
import { DIVERGING_MAP } from "./paint";

export type Style = { range: ColorRange; lut: Lut };
export const TAP = "#ff8c00";
export const WIN = "#00e5ff";

/** Text colour that reads on a background of the given table entry. */
function inkFor(lut: Lut, i: number): string {
  const y =
    0.299 * (lut[i * 4] ?? 0) + 0.587 * (lut[i * 4 + 1] ?? 0) + 0.114 * (lut[i * 4 + 2] ?? 0);
  return y > 140 ? "#111" : "#fff";
}

/** A table of numbers, each cell coloured by `style` when given. */
export function numbers(
  m: readonly (readonly number[])[],
  cls: string,
  style?: Style,
): HTMLTableElement {
  const t = h("table", `fmw-numgrid fmw-step-grid ${cls}`);
  const aff = style ? rangeToAffine(style.range) : null;
  for (const row of m) {
    const tr = h("tr");
    for (const v of row) {
      const td = h("td", "", fmt3(v));
      td.dataset.value = String(v);
      if (style && aff) {
        const i = lutIndex(v, aff.scale, aff.offset);
        if (i >= 0) {
          const lut = style.lut;
          td.style.background = `rgb(${lut[i * 4]}, ${lut[i * 4 + 1]}, ${lut[i * 4 + 2]})`;
          td.style.color = inkFor(lut, i);
        }
      }
      tr.append(td);
    }
    t.append(tr);
  }
  return t;
}

export function labelled(label: string, el: HTMLElement): HTMLElement {
  const box = h("div", "fmw-step-labelled");
  box.append(h("span", "fmw-muted", label), el);
  return box;
}

/** One diverging scale, centred at 0, for every kernel weight shown. */
export function kernelStyle(conv: ConvArithmetic): Style {
  let m = 0;
  for (const t of conv.terms)
    for (const r of t.kernel ?? []) for (const v of r) m = Math.max(m, Math.abs(v));
  return { range: { lo: -m, hi: m, diverging: true }, lut: namedLut(DIVERGING_MAP) };
}

export function kernelLegend(style: Style): HTMLElement {
  const el = h("div", "fmw-step-legend");
  const { lo, hi, labels } = legendTicks(style.range);
  el.dataset.lo = String(lo);
  el.dataset.hi = String(hi);
  const bar = h("canvas");
  paintBar(bar, style.lut);
  const ticks = h("div", "fmw-legend-ticks");
  ticks.append(...labels.map((t) => h("span", "fmw-num", t)));
  el.append(h("span", "fmw-muted", "kernel weights (one scale, centred at 0)"), bar, ticks);
  return el;
}

/** Styles of the stepper (appended to the widget's stylesheet). */
export const STEPPER_CSS = `
.fmw-stepper{display:flex;flex-direction:column;gap:3px;margin:2px 0 6px;padding:4px;border:1px solid var(--fmw-border);border-radius:3px;background:var(--fmw-bg)}
.fmw-step-head,.fmw-step-bar{display:flex;gap:4px;align-items:center;flex-wrap:wrap}
.fmw-step-bar button,.fmw-step-modes button,.fmw-step-bar select{font-size:11px;padding:1px 6px}
.fmw-step-modes button[aria-pressed="true"]{font-weight:600;outline:2px solid ${TAP}}
.fmw-step-stage{display:flex;gap:6px;align-items:flex-start;flex-wrap:wrap}
.fmw-step-map{image-rendering:pixelated;border:1px solid var(--fmw-border)}
.fmw-step-detail{display:flex;flex-direction:column;gap:3px}
.fmw-step-eq{display:flex;gap:3px;align-items:flex-end}
.fmw-step-labelled{display:flex;flex-direction:column;gap:1px;font-size:10px}
.fmw-step-grid td{min-width:3.4em;font-variant-numeric:tabular-nums;text-align:right}
.fmw-step-sum{font-weight:600;font-size:12px}
.fmw-step-caption{font-size:12px}
.fmw-step-ledger{border-collapse:collapse;align-self:flex-start;font-size:11px;font-variant-numeric:tabular-nums}
.fmw-step-ledger th{font-weight:400;color:var(--fmw-muted);text-align:right;padding:0 6px}
.fmw-step-ledger td{padding:0 6px;text-align:right;white-space:nowrap}
.fmw-step-ledger td:first-child,.fmw-step-ledger th:first-child{text-align:left}
.fmw-step-ledger tr.fmw-step-now td{background:#fff3c4;color:#111}
.fmw-step-look{outline:2px solid ${TAP};outline-offset:-2px}
.fmw-step-winner{outline:3px solid ${WIN};outline-offset:-3px;font-weight:700}
.fmw-step-legend{max-width:220px;display:flex;flex-direction:column;gap:1px;font-size:10px;color:var(--fmw-muted)}
.fmw-step-legend canvas{width:100%;height:6px;image-rendering:pixelated;border:1px solid var(--fmw-border)}
`;
