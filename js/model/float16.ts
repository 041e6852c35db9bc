/**
 * IEEE 754 half-precision decoding (DataView.getFloat16 is not in Node 20 or older browsers).
 */

/** Decodes one binary16 bit pattern. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let table: Float32Array | null = null;

/** All 65536 half values as float32 (256 KiB, built once on first use). */
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = halfToFloat(i);
  }
  return table;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes little-endian float16 bytes into a new Float32Array.
 *
 * Accepts any byte offset (Jupyter buffers may start at odd offsets) and rejects odd lengths.
 */
export function decodeFloat16(view: ArrayBufferView): Float32Array {
  if (view.byteLength % 2 !== 0) {
    throw new Error(`Expected an even number of float16 bytes, received ${view.byteLength}`);
  }
  const n = view.byteLength / 2;
  const out = new Float32Array(n);
  const t = halfTable();
  if (littleEndianHost && view.byteOffset % 2 === 0) {
    const u16 = new Uint16Array(view.buffer, view.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = t[u16[i] as number] as number;
  } else {
    const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
    for (let i = 0; i < n; i++) out[i] = t[dv.getUint16(i * 2, true)] as number;
  }
  return out;
}

/** Decodes little-endian float32 bytes into a new (aligned) Float32Array. */
export function decodeFloat32(view: ArrayBufferView): Float32Array {
  if (view.byteLength % 4 !== 0) {
    throw new Error(`Expected a multiple of 4 float32 bytes, received ${view.byteLength}`);
  }
  const n = view.byteLength / 4;
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}
