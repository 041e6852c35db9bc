/**
 * The static export's answers to the filter card and the overlays: `get_examples` from the
 * replies embedded at export time (`manifest.examples`: per layer and channel, the kernel's
 * `examples` header and one blob per patch, see fmwidget/export.py), byte for byte what the
 * kernel would send; gradients need the model, so `get_overlay` and `get_filter_image` are
 * answered with an error that says so.
 */
import type { BlobReader, BlobRef } from "./manifest";

/** One channel's embedded reply. */
export interface ExampleEntry {
  header: Record<string, unknown>;
  patches: BlobRef[];
}

export type EmbeddedExamples = Record<string, ExampleEntry[]>;

export const NEEDS_KERNEL =
  "This is a static export: Grad-CAM, saliency, effective receptive fields and feature visualisations are computed by the kernel (open the notebook to see them).";

/** The `examples` reply for `msg` (a `get_examples` request), with its patch buffers. */
export async function answerExamples(
  examples: EmbeddedExamples | undefined,
  blobs: BlobReader,
  msg: Record<string, unknown>,
): Promise<[object, DataView[]]> {
  const layer = String(msg.layer);
  const byLayer = examples && Object.hasOwn(examples, layer) ? examples[layer] : undefined;
  if (!byLayer) {
    throw new Error(
      `No top examples for layer ${JSON.stringify(layer)} in this export: set w.examples (or call w.compute_examples) before save_html.`,
    );
  }
  const channel = msg.channel;
  if (
    !Number.isInteger(channel) ||
    (channel as number) < 0 ||
    (channel as number) >= byLayer.length
  ) {
    throw new Error(
      `Expected channel in range(0, ${byLayer.length}), received ${JSON.stringify(channel)}.`,
    );
  }
  const entry = byLayer[channel as number] as ExampleEntry;
  const buffers = await Promise.all(
    entry.patches.map(async (ref) => {
      const b = await blobs.read(ref);
      return new DataView(b.buffer, b.byteOffset, b.byteLength);
    }),
  );
  return [{ ...entry.header }, buffers];
}
