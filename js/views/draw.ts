/**
 * Draw or upload your own input, in the input panel: a pen on the input image (at the model's
 * input resolution, shown enlarged; right button or the eraser erases), a clear and a reset
 * button, and an image upload (button or drop) resized to the model's input. On pointer-up
 * (and after an upload) the whole image goes to the kernel as one `set_input` message
 * (float32, channel-major, in the value range of the original input; see ./brush), which
 * runs it like `w.set_input(x)`: every view updates through `data_version`.
 */

import type { AnyModel } from "@anywidget/types";
import { ctx2d, Disposer, h } from "../dom";
import { fmt3 } from "../format";
import type { LayerData, Traits } from "../types";
import {
  BRUSH_SIZES,
  type BrushSize,
  brushRadius,
  coverCrop,
  rgbaToValues,
  segment,
  stamp,
} from "./brush";
import { type InputView, imageRange } from "./input";

/** How the page repaints the input panel (its colour tables live there). */
/** How long a drawn input may take in the kernel before the tool stops waiting. */
const REPLY_TIMEOUT_MS = 120_000;

export type RepaintInput = (d: LayerData) => void;

export class DrawTool {
  readonly el = h("div", "fmw-draw");
  private readonly pen = h("button", "fmw-draw-pen", "✎ pen");
  private readonly eraser = h("button", "fmw-draw-eraser", "eraser");
  private readonly size = h("select", "fmw-draw-size");
  private readonly clearBtn = h("button", "fmw-draw-clear", "clear");
  private readonly resetBtn = h("button", "fmw-draw-reset", "reset");
  private readonly uploadBtn = h("button", "fmw-draw-upload", "upload…");
  private readonly file = h("input", "fmw-draw-file");
  private readonly msg = h("div", "fmw-muted fmw-draw-msg");
  private readonly d = new Disposer();
  /** The working image (channel-major, exact float32), what the next message sends. */
  private base: Float32Array | null = null;
  private shape = { height: 0, width: 0, channels: 0 };
  private range: [number, number] = [0, 1];
  private lastKernel: LayerData | null = null;
  /** `data_version` of the input this tool sent last (its values are `base`). */
  private ownVersion = -1;
  private last: { x: number; y: number } | null = null;
  private erasing = false;
  /** `set_input` requests in flight: id → whether it is a reset. */
  private readonly inFlight = new Map<number, boolean>();
  private lastId = 0;

  constructor(
    private readonly input: InputView,
    private readonly model: AnyModel<Traits>,
    private readonly repaint: RepaintInput,
  ) {
    for (const [name] of Object.entries(BRUSH_SIZES)) {
      const o = h("option", "", name);
      o.value = name;
      this.size.append(o);
    }
    this.size.value = "medium";
    this.size.title = "brush size";
    this.pen.title = "draw on the input with the mouse (right button erases); white on black";
    this.eraser.title = "erase (paint the background)";
    this.clearBtn.title = "clear the input to the background";
    this.resetBtn.title = "back to the original input";
    this.uploadBtn.title = "upload an image (or drop one on the input): resized to the input";
    this.file.type = "file";
    this.file.accept = "image/*";
    this.file.hidden = true;
    this.msg.setAttribute("aria-live", "polite");
    const bar = h("div", "fmw-draw-bar");
    bar.append(this.pen, this.eraser, this.size, this.clearBtn, this.resetBtn, this.uploadBtn);
    this.el.append(bar, this.file, this.msg);
    this.el.hidden = true;
    this.bindButtons();
    this.bindPointer();
    model.on("msg:custom", this.onMessage);
  }

  private bindButtons(): void {
    const pressed = (b: HTMLElement) => b.getAttribute("aria-pressed") === "true";
    this.d.listen(this.pen, "click", () => this.setMode(!pressed(this.pen), false));
    this.d.listen(this.eraser, "click", () => this.setMode(!pressed(this.eraser), true));
    this.d.listen(this.clearBtn, "click", () => {
      if (!this.base) return;
      this.base.fill(this.range[0]);
      this.show();
      this.send();
    });
    this.d.listen(this.resetBtn, "click", () => this.reset());
    this.d.listen(this.uploadBtn, "click", () => this.file.click());
    this.d.listen(this.file, "change", () => {
      const f = this.file.files?.[0];
      if (f) void this.upload(f);
      this.file.value = "";
    });
    const stack = this.input.el;
    this.d.listen(stack, "dragover", (ev) => ev.preventDefault());
    this.d.listen(stack, "drop", (ev) => {
      ev.preventDefault();
      const f = ev.dataTransfer?.files?.[0];
      if (f) void this.upload(f);
    });
  }

  private setMode(on: boolean, erase: boolean): void {
    this.pen.setAttribute("aria-pressed", String(on && !erase));
    this.eraser.setAttribute("aria-pressed", String(on && erase));
    this.input.el.dataset.pen = on ? (erase ? "erase" : "draw") : "";
  }

  private get enabled(): boolean {
    return Boolean(this.base) && Boolean(this.input.el.dataset.pen);
  }

  private bindPointer(): void {
    const stack = this.input.el;
    this.d.listen(stack, "contextmenu", (ev) => {
      if (this.enabled) ev.preventDefault(); // the right button erases
    });
    this.d.listen(stack, "pointerdown", (ev) => {
      if (!this.enabled || (ev.button !== 0 && ev.button !== 2)) return;
      ev.preventDefault();
      stack.setPointerCapture?.(ev.pointerId);
      this.erasing = ev.button === 2 || this.input.el.dataset.pen === "erase";
      const p = this.point(ev);
      this.last = p;
      if (this.apply([[p.x, p.y]])) this.show();
    });
    this.d.listen(stack, "pointermove", (ev) => {
      if (!this.last) return;
      const p = this.point(ev);
      const changed = this.apply(segment(this.last.x, this.last.y, p.x, p.y));
      this.last = p;
      if (changed) this.show();
    });
    const end = () => {
      if (!this.last) return;
      this.last = null;
      performance.mark("fmw:draw-up"); // read by benchmarks/
      this.send();
    };
    this.d.listen(stack, "pointerup", end);
    this.d.listen(stack, "pointercancel", end);
  }

  /** The pointer in input pixels (fractional). */
  private point(ev: PointerEvent): { x: number; y: number } {
    const r = this.input.canvas.getBoundingClientRect();
    const { height: H, width: W } = this.shape;
    return {
      x: r.width > 0 ? ((ev.clientX - r.left) * W) / r.width : 0,
      y: r.height > 0 ? ((ev.clientY - r.top) * H) / r.height : 0,
    };
  }

  private apply(points: [number, number][]): boolean {
    if (!this.base) return false;
    const { height: H, width: W } = this.shape;
    const radius = brushRadius(H, W, BRUSH_SIZES[this.size.value as BrushSize] ?? 1);
    let changed = false;
    for (const [x, y] of points) {
      changed = stamp(this.base, this.shape, x, y, radius, this.range, this.erasing) || changed;
    }
    return changed;
  }

  /**
   * A new input from the kernel, before the page paints it. One this tool sent keeps the
   * exact working image (painted here: returns true); any other (the original, or
   * `set_input` from Python) becomes the new base and sets the ink range.
   */
  onInput(d: LayerData): boolean {
    this.lastKernel = d;
    const C = d.channels;
    this.el.hidden = !(C === 1 || C === 3);
    if (this.el.hidden) {
      this.base = null;
      this.input.range = null;
      return false;
    }
    const ours = this.inFlight.size > 0 || d.version === this.ownVersion;
    if (ours && this.base && this.base.length === d.values.length) {
      this.show(); // the kernel's copy went through float16; keep painting the exact one
      return true;
    }
    this.adopt(d);
    return false;
  }

  private adopt(d: LayerData): void {
    this.base = Float32Array.from(d.values);
    this.shape = { height: d.height, width: d.width, channels: d.channels };
    this.range = imageRange(d.layerMin, d.layerMax);
    this.input.range = this.range; // the same colours while drawing and after
    if (this.input.el.dataset.pen === undefined) this.setMode(d.channels === 1, false);
  }

  /** Paints the working image in the input panel. */
  private show(): void {
    const d = this.lastKernel;
    if (!this.base || !d) return;
    this.repaint({ ...d, values: this.base, layerMin: this.range[0], layerMax: this.range[1] });
  }

  private send(): void {
    if (!this.base) return;
    const { height, width, channels } = this.shape;
    const values = Float32Array.from(this.base);
    const head = { type: "set_input", height, width, channels, layout: "chw", dtype: "float32" };
    this.request(head, [values.buffer], false);
  }

  private reset(): void {
    this.request({ type: "set_input", reset: true }, [], true);
  }

  /**
   * Sends one `set_input` with an id of this tool's own (negative, so never one of the
   * Store's) and waits for its `input_set` or `error` reply. Sends are answered in order;
   * while any is in flight the working image stays what the page shows.
   */
  private request(head: object, buffers: ArrayBuffer[], reset: boolean): void {
    const id = --this.lastId;
    this.inFlight.set(id, reset);
    this.msg.textContent = "running the model…";
    setTimeout(() => this.settle(id, null, "no reply from the kernel"), REPLY_TIMEOUT_MS);
    this.model.send({ ...head, request_id: id }, undefined, buffers);
  }

  private readonly onMessage = (msg: unknown): void => {
    const m = (msg ?? {}) as { type?: unknown; request_id?: unknown; version?: unknown };
    if (typeof m.request_id !== "number" || !this.inFlight.has(m.request_id)) return;
    if (m.type === "input_set") {
      this.settle(m.request_id, Number(m.version), null);
      if (this.inFlight.size === 0) this.msg.textContent = predictionText(msg);
    } else if (m.type === "error") {
      this.settle(m.request_id, null, String((msg as { message?: unknown }).message ?? "error"));
    }
  };

  private settle(id: number, version: number | null, error: string | null): void {
    const reset = this.inFlight.get(id);
    if (reset === undefined || !this.inFlight.delete(id)) return;
    if (error !== null) {
      this.msg.textContent = error;
      // the kernel kept its input: show that again (unless more drawing is on its way)
      if (this.inFlight.size === 0 && this.lastKernel) {
        this.adopt(this.lastKernel);
        this.show();
      }
      return;
    }
    if (this.inFlight.size === 0) this.msg.textContent = "";
    if (reset) {
      this.ownVersion = -1; // the next input from the kernel is the original
      if (this.inFlight.size === 0 && this.lastKernel) this.adopt(this.lastKernel);
    } else if (version !== null) this.ownVersion = version;
  }

  /** Decodes an image file, fits it to the input (centred crop, then resize) and sends it. */
  async upload(file: Blob): Promise<void> {
    if (!this.base) return;
    const { height: H, width: W, channels: C } = this.shape;
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      this.msg.textContent = "Expected an image file (PNG, JPEG, …); could not decode it.";
      return;
    }
    const canvas = h("canvas");
    canvas.width = W;
    canvas.height = H;
    const ctx = ctx2d(canvas);
    if (!ctx) return;
    const [sx, sy, sw, sh] = coverCrop(bitmap.width, bitmap.height, W, H) as [
      number,
      number,
      number,
      number,
    ];
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, sx, sy, sw, sh, 0, 0, W, H);
    bitmap.close();
    const rgba = ctx.getImageData(0, 0, W, H).data;
    this.base = rgbaToValues(rgba, H, W, C, this.range);
    this.show();
    this.send();
  }

  dispose(): void {
    this.d.dispose();
    this.model.off("msg:custom", this.onMessage);
    this.inFlight.clear();
  }
}

/** What the network now predicts, from an `input_set` reply ("" when it outputs no scores). */
export function predictionText(msg: unknown): string {
  const p = (msg as { prediction?: unknown }).prediction as
    | { index?: unknown; label?: unknown; score?: unknown }
    | null
    | undefined;
  if (!p || typeof p.index !== "number") return "";
  const name = typeof p.label === "string" && p.label ? p.label : `class ${p.index}`;
  const score = typeof p.score === "number" ? ` (output ${fmt3(p.score)})` : "";
  return `the network says: ${name}${score}`;
}
