/**
 * Colour lookup tables built from d3-scale-chromatic interpolators, and the
 * mapping of float values into RGBA pixels through such a table.
 *
 * Pure: no DOM. Unit-tested in node.
 */
import {
  interpolateBrBG,
  interpolateCividis,
  interpolateGreys,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolatePuOr,
  interpolateRdBu,
  interpolateViridis,
} from "d3-scale-chromatic";

/** Number of entries in a lookup table. */
export const LUT_SIZE = 256;

/** RGBA colour of NaN and ±Inf cells (magenta: in none of the colormaps offered). */
export const BAD_COLOR: readonly [number, number, number, number] = [255, 0, 255, 255];

/** A 256-entry RGBA table (1024 bytes). */
export type Lut = Uint8ClampedArray;

export type Interpolator = (t: number) => string;

export const SEQUENTIAL: Record<string, Interpolator> = {
  viridis: interpolateViridis,
  magma: interpolateMagma,
  inferno: interpolateInferno,
  plasma: interpolatePlasma,
  cividis: interpolateCividis,
  greys: (t) => interpolateGreys(1 - t),
};

/** Diverging maps, oriented so negative values are blue/cool and positive are red/warm. */
export const DIVERGING: Record<string, Interpolator> = {
  RdBu: (t) => interpolateRdBu(1 - t),
  PuOr: (t) => interpolatePuOr(t),
  BrBG: (t) => interpolateBrBG(1 - t),
};

/** Parses "#rrggbb" or "rgb(r, g, b)" (the two forms d3 interpolators return). */
export function parseColor(s: string): [number, number, number] {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(s);
  if (hex) {
    return [
      Number.parseInt(hex[1] ?? "0", 16),
      Number.parseInt(hex[2] ?? "0", 16),
      Number.parseInt(hex[3] ?? "0", 16),
    ];
  }
  const rgb = /^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)/i.exec(s);
  if (rgb) {
    return [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])];
  }
  throw new Error(
    `Expected a colour like "#rrggbb" or "rgb(r, g, b)", received ${JSON.stringify(s)}`,
  );
}

/** Samples an interpolator at the centres of 256 bins into an RGBA table. */
export function buildLut(interp: Interpolator): Lut {
  const lut = new Uint8ClampedArray(LUT_SIZE * 4);
  for (let i = 0; i < LUT_SIZE; i++) {
    const [r, g, b] = parseColor(interp((i + 0.5) / LUT_SIZE));
    lut[i * 4] = r;
    lut[i * 4 + 1] = g;
    lut[i * 4 + 2] = b;
    lut[i * 4 + 3] = 255;
  }
  return lut;
}

/**
 * The upper (positive) half of a diverging table, stretched over a whole table: entry j is
 * entry 128 + ⌊j / 2⌋ of `lut`. A value v ≥ 0 therefore gets the same colour from this table
 * over [0, m] as from `lut` over [−m, m]: the sequential scale of non-negative maps is the
 * diverging scale's positive half, colour for colour.
 */
export function upperHalf(lut: Lut): Lut {
  const out = new Uint8ClampedArray(LUT_SIZE * 4);
  const half = LUT_SIZE / 2;
  for (let j = 0; j < LUT_SIZE; j++) {
    out.set(lut.subarray((half + (j >> 1)) * 4, (half + (j >> 1)) * 4 + 4), j * 4);
  }
  return out;
}

const lutCache = new Map<string, Lut>();

/**
 * Cached table for a named colormap ("viridis", "RdBu", ...); a diverging name followed by
 * "+" ("RdBu+") is its positive half ({@link upperHalf}).
 */
export function namedLut(name: string): Lut {
  let lut = lutCache.get(name);
  if (!lut && name.endsWith("+") && DIVERGING[name.slice(0, -1)]) {
    lut = upperHalf(namedLut(name.slice(0, -1)));
    lutCache.set(name, lut);
  }
  if (!lut) {
    const interp = SEQUENTIAL[name] ?? DIVERGING[name];
    if (!interp) {
      const known = [...Object.keys(SEQUENTIAL), ...Object.keys(DIVERGING)].join(", ");
      throw new Error(`Expected a colormap name among ${known}, received ${JSON.stringify(name)}`);
    }
    lut = buildLut(interp);
    lutCache.set(name, lut);
  }
  return lut;
}

/**
 * How values become table positions.
 * - sequential: lo → 0, hi → 1.
 * - diverging: symmetric about 0: −m → 0, 0 → 0.5, +m → 1 with m = max(|lo|, |hi|).
 */
export interface ColorRange {
  lo: number;
  hi: number;
  diverging: boolean;
}

/** Affine (scale, offset) so that t = v * scale + offset, in table units [0, 256). */
export function rangeToAffine(range: ColorRange): { scale: number; offset: number } {
  if (range.diverging) {
    const m = Math.max(Math.abs(range.lo), Math.abs(range.hi));
    if (!(m > 0) || !Number.isFinite(m)) return { scale: 0, offset: LUT_SIZE / 2 };
    return { scale: LUT_SIZE / (2 * m), offset: LUT_SIZE / 2 };
  }
  const span = range.hi - range.lo;
  if (!(span > 0) || !Number.isFinite(span)) return { scale: 0, offset: 0 };
  return { scale: LUT_SIZE / span, offset: (-range.lo * LUT_SIZE) / span };
}

/** Table index of one value, or −1 for NaN/±Inf. */
export function lutIndex(v: number, scale: number, offset: number): number {
  if (!Number.isFinite(v)) return -1;
  const t = Math.floor(v * scale + offset);
  return t < 0 ? 0 : t >= LUT_SIZE ? LUT_SIZE - 1 : t;
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const BAD_COLOR32 = new Uint32Array(new Uint8ClampedArray(BAD_COLOR).buffer)[0] as number;
const packedTables = new WeakMap<Lut, Uint32Array>();

/** The table as one little-endian RGBA word per entry (cached per table). */
function packed(lut: Lut): Uint32Array {
  let t = packedTables.get(lut);
  if (!t) {
    t = new Uint32Array(lut.buffer.slice(lut.byteOffset, lut.byteOffset + LUT_SIZE * 4));
    packedTables.set(lut, t);
  }
  return t;
}

/** Where and how to write a w×h block of pixels into a larger RGBA buffer. */
export interface BlitTarget {
  out: Uint8ClampedArray;
  /** Byte offset of the top-left pixel. */
  offset: number;
  /** Bytes per row of `out` (4 × image width). */
  stride: number;
  /** Integer upscale factor (each value becomes scale×scale pixels). */
  scale: number;
}

/**
 * Maps `w*h` values starting at `src[srcOffset]` (row-major) through `lut` into RGBA pixels.
 * NaN/±Inf cells get BAD_COLOR.
 */
export function mapToRgba(
  src: ArrayLike<number>,
  srcOffset: number,
  w: number,
  h: number,
  range: ColorRange,
  lut: Lut,
  target: BlitTarget,
): void {
  const { scale, offset } = rangeToAffine(range);
  const { out, stride } = target;
  const k = Math.max(1, Math.floor(target.scale));
  if (littleEndian && target.offset % 4 === 0 && stride % 4 === 0 && out.byteOffset % 4 === 0) {
    // One 32-bit store per pixel from a packed table (the hot path for big grids).
    const out32 = new Uint32Array(out.buffer, out.byteOffset, out.byteLength >> 2);
    const lut32 = packed(lut);
    const stride32 = stride >> 2;
    const top = target.offset >> 2;
    for (let r = 0; r < h; r++) {
      const rowBase = top + r * k * stride32;
      const srcRow = srcOffset + r * w;
      for (let c = 0; c < w; c++) {
        const v = src[srcRow + c] as number;
        let color = BAD_COLOR32;
        if (v - v === 0) {
          // finite (NaN - NaN and Inf - Inf are NaN)
          let t = Math.floor(v * scale + offset);
          t = t < 0 ? 0 : t >= LUT_SIZE ? LUT_SIZE - 1 : t;
          color = lut32[t] as number;
        }
        if (k === 1) {
          out32[rowBase + c] = color;
        } else {
          for (let dy = 0; dy < k; dy++) {
            const p = rowBase + dy * stride32 + c * k;
            out32.fill(color, p, p + k);
          }
        }
      }
    }
    return;
  }
  for (let r = 0; r < h; r++) {
    const rowBase = target.offset + r * k * stride;
    for (let c = 0; c < w; c++) {
      const i = lutIndex(src[srcOffset + r * w + c] as number, scale, offset);
      let cr: number;
      let cg: number;
      let cb: number;
      let ca: number;
      if (i < 0) {
        [cr, cg, cb, ca] = BAD_COLOR;
      } else {
        const j = i * 4;
        cr = lut[j] as number;
        cg = lut[j + 1] as number;
        cb = lut[j + 2] as number;
        ca = lut[j + 3] as number;
      }
      for (let dy = 0; dy < k; dy++) {
        let p = rowBase + dy * stride + c * k * 4;
        for (let dx = 0; dx < k; dx++) {
          out[p] = cr;
          out[p + 1] = cg;
          out[p + 2] = cb;
          out[p + 3] = ca;
          p += 4;
        }
      }
    }
  }
}

/** Convenience: a fresh w×h RGBA buffer for a contiguous map. */
export function mapArray(
  src: ArrayLike<number>,
  w: number,
  h: number,
  range: ColorRange,
  lut: Lut,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(w * h * 4);
  mapToRgba(src, 0, w, h, range, lut, { out, offset: 0, stride: w * 4, scale: 1 });
  return out;
}

/** CSS colour of a table position t in [0, 1] (for legends drawn with gradients). */
export function lutCss(lut: Lut, t: number): string {
  const i = Math.min(LUT_SIZE - 1, Math.max(0, Math.floor(t * LUT_SIZE))) * 4;
  return `rgb(${lut[i]}, ${lut[i + 1]}, ${lut[i + 2]})`;
}
