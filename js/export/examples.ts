/**
 * The static export's answers to the filter card and the overlays: `get_examples` from the
 * replies embedded at export time (`manifest.examples`: per layer and channel, the kernel's
 * `examples` header and one blob per patch, see fmwidget/export.py), byte for byte what the
 * kernel would send; `get_overlay` from the Grad-CAM and saliency replies embedded for the
 * top class (`manifest.overlays`); anything else that needs gradients (other classes,
 * effective receptive fields, feature visualisations) with an error that says so.
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

/** One embedded `overlay` reply: the class the request asked for (null: top) and its map. */
export interface OverlayEntry extends BlobRef {
  asked: number | null;
  header: Record<string, unknown>;
}

/** The `overlay` reply for a `get_overlay` request, from the replies embedded at export. */
export async function answerOverlay(
  overlays: OverlayEntry[] | undefined,
  blobs: BlobReader,
  msg: Record<string, unknown>,
): Promise<[object, DataView[]]> {
  const asked = msg.class_index ?? null;
  const entry = (overlays ?? []).find(
    (o) => o.header.mode === msg.mode && (o.asked ?? null) === asked,
  );
  if (!entry) {
    const what = msg.mode === "erf" ? "effective receptive fields" : `class ${String(asked)}`;
    throw new Error(
      `${NEEDS_KERNEL} This page holds Grad-CAM and saliency of the top class only (and of the class_index set when it was saved), not ${what}.`,
    );
  }
  const b = await blobs.read(entry);
  return [{ ...entry.header }, [new DataView(b.buffer, b.byteOffset, b.byteLength)]];
}
