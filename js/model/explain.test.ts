import { describe, expect, it } from "vitest";
import { f16Bytes } from "../testing/fake-model";
import {
  decodeExamples,
  decodeFilterImage,
  decodeOverlay,
  decodePatch,
  OVERLAY_ALPHA,
  overlayRgba,
  patchRange,
  patchRgba,
} from "./explain";

describe("decodePatch", () => {
  it("turns an hwc patch channel-major", () => {
    // 1 row, 2 cols, 3 channels: (r0c0: 1 2 3) (r0c1: 4 5 6)
    const p = decodePatch([1, 2, 3], "hwc", f16Bytes([1, 2, 3, 4, 5, 6]));
    expect([p.height, p.width, p.channels]).toEqual([1, 2, 3]);
    expect(Array.from(p.values)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it("keeps chw, reads 1D patches as one row, and rejects a wrong size", () => {
    const p = decodePatch([2, 1, 2], "chw", f16Bytes([1, 2, 3, 4]));
    expect([p.height, p.width, p.channels]).toEqual([1, 2, 2]);
    expect(Array.from(p.values)).toEqual([1, 2, 3, 4]);
    const q = decodePatch([3, 1], "hwc", f16Bytes([7, 8, 9]));
    expect([q.height, q.width, q.channels]).toEqual([1, 3, 1]);
    expect(() => decodePatch([2, 2, 1], "hwc", f16Bytes([1, 2, 3]))).toThrow(
      "Expected 4 float16 values for a patch, received 3",
    );
  });
});

describe("decodeExamples", () => {
  const msg = {
    type: "examples",
    layer: "conv",
    channel: 2,
    k: 2,
    num_samples: 10,
    values: [3.5, "Infinity"],
    indices: [7, 1],
    positions: [
      [0, 1],
      [2, 2],
    ],
    boxes: [
      [
        [0, 2],
        [1, 3],
      ],
      [
        [2, 4],
        [2, 4],
      ],
    ],
    patches: [
      { shape: [2, 2, 1], dtype: "float16", layout: "hwc" },
      { shape: [2, 2, 1], dtype: "float16", layout: "hwc" },
    ],
  };

  it("decodes numbers, boxes and every patch", () => {
    const ex = decodeExamples(msg, [f16Bytes([0, 1, 0.5, 1]), f16Bytes([1, 1, 0, 0])]);
    expect(ex.values).toEqual([3.5, Number.POSITIVE_INFINITY]);
    expect(ex.indices).toEqual([7, 1]);
    expect(ex.boxes?.[1]).toEqual([
      [2, 4],
      [2, 4],
    ]);
    expect(Array.from(ex.patches[0]?.values ?? [])).toEqual([0, 1, 0.5, 1]);
  });

  it("says when the buffers do not match the patches", () => {
    expect(() => decodeExamples(msg, [f16Bytes([0, 1, 0.5, 1])])).toThrow(
      "Expected 2 patch buffers, received 1",
    );
  });
});

describe("patch colours", () => {
  const p = { height: 1, width: 3, channels: 1, values: new Float32Array([0, 0.5, 1]) };

  it("shows images in [0, 1] or [0, 255] as such, others in their own range", () => {
    expect(patchRange([p])).toEqual([0, 1]);
    const bytes = { ...p, values: new Float32Array([0, 40, 255]) };
    expect(patchRange([bytes])).toEqual([0, 255]);
    const signed = { ...p, values: new Float32Array([-2, 0, 3]) };
    expect(patchRange([signed])).toEqual([-2, 3]);
  });

  it("maps one channel to grey and marks non-finite values magenta", () => {
    const rgba = patchRgba(p, 0, 1);
    expect(Array.from(rgba.slice(0, 4))).toEqual([0, 0, 0, 255]);
    expect(Array.from(rgba.slice(4, 8))).toEqual([128, 128, 128, 255]);
    const bad = patchRgba({ ...p, values: new Float32Array([Number.NaN, 0, 0]) }, 0, 1);
    expect(Array.from(bad.slice(0, 4))).toEqual([255, 0, 255, 255]);
  });
});

describe("overlays", () => {
  it("decodes a map and checks its size", () => {
    const head = {
      type: "overlay",
      mode: "grad_cam",
      height: 1,
      width: 2,
      peak: 4,
      class_index: 3,
    };
    const ov = decodeOverlay(head, [f16Bytes([0, 1])]);
    expect(Array.from(ov.values)).toEqual([0, 1]);
    expect(ov.classIndex).toBe(3);
    expect(ov.cell).toBeNull();
    expect(() => decodeOverlay(head, [f16Bytes([0, 1, 1])])).toThrow(
      "Expected 2 overlay values (1×2), received 3",
    );
  });

  it("takes the value as opacity and the colour from the table", () => {
    const lut = new Uint8ClampedArray(256 * 4).map((_, i) => i >> 2);
    const rgba = overlayRgba(new Float32Array([0, 0.5, 1, Number.NaN]), lut);
    expect(Array.from(rgba.slice(0, 4))).toEqual([0, 0, 0, 0]);
    expect(Array.from(rgba.slice(4, 8))).toEqual([128, 128, 128, OVERLAY_ALPHA / 2]);
    expect(Array.from(rgba.slice(8, 12))).toEqual([255, 255, 255, OVERLAY_ALPHA]);
    expect(rgba[15]).toBe(0);
  });

  it("checks a filter image's byte count", () => {
    const head = { layer: "c", filter: 1, height: 1, width: 2, activation: 2, steps: 3 };
    const img = decodeFilterImage(head, [new Uint8Array(8)]);
    expect(img.kind).toBe("image"); // no kind: an image, as before
    expect(img.kind !== "series" && img.rgba.length).toBe(8);
    expect(() => decodeFilterImage(head, [new Uint8Array(7)])).toThrow("received 7");
  });

  it("decodes a time series' (T, C) float32 values channel-major", () => {
    const head = { layer: "c", filter: 2, kind: "series", length: 3, channels: 2, steps: 4 };
    const tc = new Float32Array([0, 1, 0.25, 0.75, 0.5, 0.5]); // rows are time steps
    const img = decodeFilterImage({ ...head, activation: 1.5, start_activation: 0.1 }, [
      new DataView(tc.buffer),
    ]);
    if (img.kind !== "series") throw new Error(`kind ${img.kind}`);
    expect([img.length, img.channels, img.filter, img.steps]).toEqual([3, 2, 2, 4]);
    expect(Array.from(img.values)).toEqual([0, 0.25, 0.5, 1, 0.75, 0.5]);
    expect([img.startActivation, img.activation]).toEqual([0.1, 1.5]);
    // a buffer at an odd offset (a slice of a larger one) reads the same
    const bytes = new Uint8Array(tc.byteLength + 1);
    bytes.set(new Uint8Array(tc.buffer), 1);
    const shifted = decodeFilterImage(head, [bytes.subarray(1)]);
    expect(shifted.kind === "series" && Array.from(shifted.values)).toEqual(Array.from(img.values));
  });

  it("refuses a series of the wrong size or shape, and unknown kinds, saying what it expected", () => {
    const head = { layer: "c", filter: 0, kind: "series", length: 3, channels: 2 };
    expect(() => decodeFilterImage(head, [new Float32Array(5)])).toThrow(
      "Expected 3×2 float32 values for the filter's series, received 20 bytes",
    );
    expect(() => decodeFilterImage({ ...head, length: 0 }, [new Float32Array(0)])).toThrow(
      "time steps",
    );
    expect(() => decodeFilterImage({ ...head, kind: "movie" }, [new Uint8Array(0)])).toThrow(
      'received "movie"',
    );
  });

  it("decodes a volume's depth slices as one RGBA image with its depth", () => {
    const head = { layer: "c", filter: 0, kind: "slices", depth: 3, height: 2, width: 8 };
    const img = decodeFilterImage(head, [new Uint8Array(2 * 8 * 4)]);
    expect(img.kind === "slices" && [img.depth, img.height, img.width]).toEqual([3, 2, 8]);
    expect(() => decodeFilterImage({ ...head, depth: undefined }, [new Uint8Array(64)])).toThrow(
      "depth",
    );
  });
});
