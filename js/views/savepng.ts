/** A "save PNG" button: downloads a canvas of the view as it is painted (its own pixels). */
import { h } from "../dom";

/** File name from a layer name: letters, digits, dot, dash and underscore kept. */
export function pngName(layer: string): string {
  const safe = layer.replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, "");
  return `${safe || "maps"}.png`;
}

export function savePngButton(
  canvas: () => HTMLCanvasElement | null,
  layer: () => string,
): HTMLButtonElement {
  const b = h("button", "fmw-save-png", "save PNG");
  b.type = "button";
  b.title =
    "download this layer's maps as a PNG (from Python: w.save_png(path) or w.save_svg(path))";
  b.addEventListener("click", () => {
    const c = canvas();
    if (!c || c.width === 0) return;
    c.toBlob((blob) => {
      if (!blob) return;
      const a = h("a");
      a.href = URL.createObjectURL(blob);
      a.download = pngName(layer());
      a.style.display = "none";
      (c.ownerDocument.body ?? c.parentElement)?.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    }, "image/png");
  });
  return b;
}
