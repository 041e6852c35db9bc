import { describe, expect, it } from "vitest";
import { answerExamples, type EmbeddedExamples } from "./examples";
import { BlobReader } from "./manifest";

const blobs = new BlobReader((id) => (id === "b0" ? btoa("\u0000\u003c\u0000\u0038") : null));
const embedded: EmbeddedExamples = {
  conv: [
    { header: { type: "examples", layer: "conv", channel: 0 }, patches: [] },
    {
      header: { type: "examples", layer: "conv", channel: 1 },
      patches: [{ blob: "b0", codec: "raw", size: 4 }],
    },
  ],
};

describe("answerExamples (static export)", () => {
  it("answers with the embedded header and the patch bytes", async () => {
    const [head, buffers] = await answerExamples(embedded, blobs, { layer: "conv", channel: 1 });
    expect(head).toEqual({ type: "examples", layer: "conv", channel: 1 });
    expect(buffers.map((b) => b.byteLength)).toEqual([4]);
    expect(buffers[0]?.getUint16(0, true)).toBe(0x3c00); // float16 1.0
  });

  it("says which layers and channels it has", async () => {
    await expect(answerExamples(embedded, blobs, { layer: "pool", channel: 0 })).rejects.toThrow(
      'No top examples for layer "pool" in this export',
    );
    await expect(answerExamples(embedded, blobs, { layer: "conv", channel: 2 })).rejects.toThrow(
      "Expected channel in range(0, 2), received 2.",
    );
    await expect(
      answerExamples(embedded, blobs, { layer: "__proto__", channel: 0 }),
    ).rejects.toThrow("No top examples");
  });
});
