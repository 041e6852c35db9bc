/** Number and shape formatting for readouts, legends and the layer strip. */
import type { LayerSpec, Window } from "./types";

/** Three significant digits, trailing zeros dropped; exponent form outside [1e-3, 1e4). */
export function fmt3(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "∞";
  if (v === Number.NEGATIVE_INFINITY) return "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  const sign = v < 0 ? "−" : "";
  if (a >= 1e4 || a < 1e-3) {
    const [m = "", e = "0"] = a.toExponential(2).split("e");
    return `${sign}${stripZeros(m)}e${Number(e)}`;
  }
  let s = a.toPrecision(3);
  if (s.includes("e")) s = String(Number(s)); // 9999.5 → "1.00e+4" never reaches here; be safe
  return sign + stripZeros(s);
}

function stripZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** Keras-style shape without the batch axis: "(None, 28, 28, 8)". */
export function fmtShape(shape: readonly (number | null)[]): string {
  const dims = ["None", ...shape.map((d) => (d === null ? "None" : String(d)))];
  return `(${dims.join(", ")})`;
}

/** Percentage with at most one decimal: 0.4567 → "45.7%". */
export function fmtPercent(f: number): string {
  if (!Number.isFinite(f)) return "–";
  return `${stripZeros((f * 100).toFixed(1))}%`;
}

/** Splits a nested path "block1/conv1" into its parts (keeps empty names readable). */
export function pathParts(name: string): { prefix: string; leaf: string } {
  const i = name.lastIndexOf("/");
  if (i < 0) return { prefix: "", leaf: name };
  return { prefix: name.slice(0, i + 1), leaf: name.slice(i + 1) };
}

/** The shape as a reader says it: "24×24×8" (rows × cols × channels); a vector: "576". */
export function shapeLabel(spec: LayerSpec): string {
  if (spec.spatial && spec.height && spec.width && spec.channels) {
    const hw = `${spec.height}×${spec.width}`;
    const sp =
      spec.shape.length === 2
        ? `${spec.shape[0]}`
        : spec.depth && spec.depth > 1
          ? `${spec.depth}×${hw}`
          : hw;
    return `${sp}×${spec.channels}`;
  }
  const dims = (spec.shape ?? []).filter((d) => typeof d === "number");
  return dims.length ? dims.join("×") : "?";
}

/** A cell as the trace names it: "(row, col)", "(depth, row, col)" or a time series' "step t". */
export interface CellAt {
  row: number;
  col: number;
  depth?: number;
}

export function cellText(c: CellAt, series = false): string {
  if (series) return `step ${c.col}`;
  return c.depth === undefined ? `(${c.row}, ${c.col})` : `(${c.depth}, ${c.row}, ${c.col})`;
}

/** A window in words: "rows 2–3, cols 4–5", "depths 0–1, rows …", or "steps 216–219". */
export function windowText(w: Window, series = false): string {
  if (series) return w.col1 - w.col0 === 1 ? `step ${w.col0}` : `steps ${w.col0}–${w.col1 - 1}`;
  if (w.depth0 !== undefined && w.depth1 !== undefined) {
    const { depth0: d0, depth1: d1 } = w;
    const depths = d1 - d0 === 1 ? `depth ${d0}` : `depths ${d0}–${d1 - 1}`;
    return `${depths}, ${windowText({ row0: w.row0, row1: w.row1, col0: w.col0, col1: w.col1 })}`;
  }
  const rows = w.row1 - w.row0 === 1 ? `row ${w.row0}` : `rows ${w.row0}–${w.row1 - 1}`;
  const cols = w.col1 - w.col0 === 1 ? `col ${w.col0}` : `cols ${w.col0}–${w.col1 - 1}`;
  return `${rows}, ${cols}`;
}
