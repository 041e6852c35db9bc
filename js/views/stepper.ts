/**
 * Animated step-through of a traced cell, beside the trace: the convolution's sum one input
 * map at a time (the window at the layer's exact kernel taps, window × kernel, the running
 * sum), then the bias and the activation; or the max-pool window one value at a time, then
 * the winner. Play / pause / step / speed. Numbers come from the kernel's trace.
 */
import type { ColorRange, Lut } from "../colormap";
import { h } from "../dom";
import { cellText } from "../format";
import type { ConvArithmetic, LayerData, TraceMsg, TraceStep } from "../types";
import { activationAfter, convFrames, type Frame, poolFrames, slidePath, tapsAt } from "./frames";
import {
  convDetail,
  ledgerRows,
  paintMap,
  paintPoolWindow,
  paintTaps,
  poolDetail,
  slideDetail,
} from "./stepper-draw";
import { kernelStyle, type Style } from "./stepper-parts";

export interface StepperDeps {
  data(layer: string, pre: boolean): Promise<LayerData>;
  style(d: LayerData, f: number): { range: ColorRange; lut: Lut };
}

type Mode = "conv" | "pool";

/** Milliseconds per frame at 1×. */
export const FRAME_MS = 1100;
const SPEEDS = [0.5, 1, 2, 4];

/** The max-pool step of a trace with its input step (the map it pooled), if any. */
function maxPool(
  steps: readonly TraceStep[],
): { pool: TraceStep; src: TraceStep; pre: boolean } | null {
  for (let i = 1; i < steps.length; i++) {
    const s = steps[i] as TraceStep;
    const src = steps[i - 1] as TraceStep;
    if (s.kind === "pooling" && s.window && s.argmax && src.filter === s.filter) {
      const pre =
        typeof src.pre_activation === "boolean" ? src.pre_activation : s.layer === src.layer;
      return { pool: s, src, pre };
    }
  }
  return null;
}

/**
 * A stepper for a trace with conv arithmetic or a max-pool step; null when it has neither.
 * `series`: the model's layers are 1-D (cells are time steps, "step t", windows "steps a–b").
 */
export function stepperFor(t: TraceMsg, deps: StepperDeps, series = false): Stepper | null {
  const steps = t.steps ?? [];
  const pool = maxPool(steps);
  if (!t.conv && !pool) return null;
  return new Stepper(t, deps, series);
}

export class Stepper {
  readonly el = h("div", "fmw-stepper");
  private readonly modes: Mode[] = [];
  private mode: Mode;
  private frames: Frame[] = [];
  private i = 0;
  private speed = 1;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly stage = h("canvas", "fmw-step-map");
  private readonly detail = h("div", "fmw-step-detail");
  private readonly caption = h("div", "fmw-step-caption");
  private readonly what = h("span", "fmw-muted fmw-num");
  private readonly mapLabel = h("span", "fmw-muted");
  private readonly counter = h("span", "fmw-muted fmw-num");
  private readonly ledger = h("table", "fmw-step-ledger");
  private readonly play = h("button", "fmw-step-play", "▶ play");
  private readonly modeBar = h("div", "fmw-step-modes");
  private readonly kernelStyle: Style | null;
  private readonly pool: { pool: TraceStep; src: TraceStep; pre: boolean } | null;
  private readonly act: TraceStep | null;
  private poolData: LayerData | null = null;
  private convData: LayerData | null = null;
  private token = 0;
  private slideTimer: ReturnType<typeof setInterval> | null = null;
  private convCell: { row: number; col: number } | null = null;

  constructor(
    private readonly t: TraceMsg,
    private readonly deps: StepperDeps,
    private readonly series = false,
  ) {
    this.el.dataset.series = String(series);
    const steps = t.steps ?? [];
    this.pool = maxPool(steps);
    if (t.conv) this.modes.push("conv");
    if (this.pool) this.modes.push("pool");
    this.mode = this.modes[0] ?? "conv";
    this.act = t.conv ? activationAfter(steps, t.conv) : null;
    this.kernelStyle = t.conv ? kernelStyle(t.conv) : null;
    this.build();
    this.setMode(this.mode);
  }

  /** Number of frames, the current one, and whether it plays (also on `el.dataset`). */
  get state(): { frame: number; frames: number; playing: boolean } {
    return { frame: this.i, frames: this.frames.length, playing: this.timer !== null };
  }

  private build(): void {
    const back = h("button", "fmw-step-back", "◀ step");
    const next = h("button", "fmw-step-next", "step ▶");
    const first = h("button", "fmw-step-first", "|◀");
    first.title = "back to the first step";
    const speed = h("select", "fmw-step-speed");
    speed.title = "speed";
    for (const s of SPEEDS) {
      const o = h("option", "", `${s}×`);
      o.value = String(s);
      o.selected = s === 1;
      speed.append(o);
    }
    first.addEventListener("click", () => this.go(0, true));
    back.addEventListener("click", () => this.go(this.i - 1, true));
    next.addEventListener("click", () => this.go(this.i + 1, true));
    this.play.addEventListener("click", () => (this.timer ? this.pause() : this.start()));
    speed.addEventListener("change", () => {
      this.speed = Number(speed.value) || 1;
      if (this.timer) this.start();
    });
    for (const m of this.modes) {
      const b = h("button", "fmw-step-mode", m === "conv" ? "convolution" : "max pool");
      b.dataset.mode = m;
      b.addEventListener("click", () => this.setMode(m));
      this.modeBar.append(b);
    }
    const bar = h("div", "fmw-step-bar");
    bar.append(first, back, this.play, next, speed, this.counter);
    const stage = h("div", "fmw-step-stage");
    const map = h("div", "fmw-step-labelled");
    map.append(this.mapLabel, this.stage);
    stage.append(map, this.detail);
    const head = h("div", "fmw-step-head");
    head.append(h("span", "fmw-trace-name", "Step by step"), this.what, this.modeBar);
    this.el.append(head, bar, this.caption, stage, this.ledger);
  }

  private setMode(mode: Mode): void {
    this.pause();
    this.mode = mode;
    this.el.dataset.mode = mode;
    for (const b of this.modeBar.querySelectorAll<HTMLButtonElement>("button")) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    }
    this.modeBar.hidden = this.modes.length < 2;
    const token = ++this.token;
    this.frames = [];
    this.i = 0;
    this.caption.textContent = "loading…";
    this.mapLabel.textContent = "";
    if (mode === "conv" && this.t.conv) {
      const conv = this.t.conv;
      const step = (this.t.steps ?? []).find((s) => s.layer === conv.layer);
      this.what.textContent = step
        ? `${conv.layer} · filter ${step.filter} · ${cellText(step, this.series)}`
        : conv.layer;
      this.convCell = step ? { row: step.row, col: step.col } : null;
      this.frames = convFrames(conv, this.act, this.convCell, this.series);
      const source = conv.source;
      if (source) {
        this.deps.data(source, false).then(
          (d) => {
            if (token !== this.token) return;
            this.convData = d;
            this.render();
          },
          () => undefined,
        );
      }
      this.el.dataset.final = String(this.frames.find((f) => f.kind === "bias")?.partial ?? "");
    } else if (mode === "pool" && this.pool) {
      const { pool, src, pre } = this.pool;
      this.what.textContent = `${pool.layer} · filter ${pool.filter} · ${cellText(pool, this.series)}`;
      this.mapLabel.textContent = `${src.layer}${pre ? " (pre-activation)" : ""} · map ${pool.filter}`;
      this.deps.data(src.layer, pre).then(
        (d) => {
          if (token !== this.token) return;
          this.poolData = d;
          const base = pool.filter * d.height * d.width;
          const read = (r: number, c: number) => d.values[base + r * d.width + c] ?? Number.NaN;
          this.frames = poolFrames(pool, read, this.series);
          this.el.dataset.final = String(pool.value);
          this.render();
        },
        (e) => {
          if (token === this.token) this.caption.textContent = `max pool: ${String(e)}`;
        },
      );
    }
    this.render();
  }

  private start(): void {
    this.pause();
    if (this.i >= this.frames.length - 1) this.go(0, false);
    this.timer = setInterval(() => {
      if (!this.el.isConnected) return this.pause();
      if (this.i >= this.frames.length - 1) return this.pause();
      this.go(this.i + 1, false);
    }, FRAME_MS / this.speed);
    this.play.textContent = "⏸ pause";
    this.el.dataset.playing = "1";
  }

  private pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.play.textContent = "▶ play";
    this.el.dataset.playing = "0";
  }

  private go(i: number, byHand: boolean): void {
    if (byHand) this.pause();
    this.i = Math.max(0, Math.min(this.frames.length - 1, i));
    this.render();
  }

  private render(): void {
    if (this.slideTimer) clearInterval(this.slideTimer);
    this.slideTimer = null;
    const f = this.frames[this.i];
    this.el.dataset.frame = String(this.i);
    this.el.dataset.frames = String(this.frames.length);
    this.counter.textContent = this.frames.length
      ? `step ${this.i + 1} of ${this.frames.length}`
      : "";
    if (!f) {
      this.el.dataset.partial = "";
      return;
    }
    this.el.dataset.partial = String(f.partial);
    this.el.dataset.kind = f.kind;
    this.caption.textContent = f.label;
    if (this.mode === "conv" && this.t.conv) this.renderConv(this.t.conv, f);
    else if (this.pool) this.renderPool(this.pool.pool, f);
    this.renderLedger();
  }

  /** The frames so far in aligned columns: what each adds, and the running sum / max. */
  private renderLedger(): void {
    const activation = this.act?.activation ?? "activation";
    this.ledger.replaceChildren(
      ...ledgerRows(this.frames, this.i, this.mode === "conv", activation, this.series),
    );
  }

  private renderConv(conv: ConvArithmetic, f: Frame): void {
    if (f.kind === "slide") {
      this.detail.replaceChildren(...slideDetail(conv, this.kernelStyle, this.series));
      this.slide(conv, conv.terms[0]?.channel ?? null);
      return;
    }
    const term = f.term !== undefined ? conv.terms[f.term] : undefined;
    const d = this.convData;
    const style = d && term ? this.deps.style(d, term.channel) : undefined;
    this.detail.replaceChildren(...convDetail(conv, f, style, this.kernelStyle));
    this.paintConvStage(conv, term?.channel ?? null);
  }

  /** The window sliding over the map, output cell by output cell, to the traced one. */
  private slide(conv: ConvArithmetic, channel: number | null): void {
    const at = this.convCell;
    if (!at) {
      this.paintConvStage(conv, channel);
      return;
    }
    const path = slidePath(at);
    let i = 0;
    const step = () => {
      const to = path[i] ?? at;
      this.paintConvStage(conv, channel, tapsAt(conv, at, to));
      this.stage.dataset.slide = `${to.row},${to.col}`;
      i++;
      if ((i >= path.length || !this.el.isConnected) && this.slideTimer) {
        clearInterval(this.slideTimer);
        this.slideTimer = null;
      }
    };
    step();
    // the whole slide fits in 80% of a frame, so playing shows it to its end
    const tick = Math.min(60, (0.8 * FRAME_MS) / path.length) / this.speed;
    if (path.length > 1) this.slideTimer = setInterval(step, Math.max(10, tick));
  }

  /** The input map the current term reads, with its exact taps outlined (holes for dilation). */
  private paintConvStage(
    conv: ConvArithmetic,
    channel: number | null,
    at?: { rows: number[]; cols: number[] },
  ): void {
    const d = this.convData;
    const taps = at ?? conv.taps;
    if (!d || channel === null || channel >= d.channels || !taps) {
      this.stage.hidden = true;
      this.mapLabel.textContent = "";
      return;
    }
    this.stage.hidden = false;
    this.mapLabel.textContent = `${conv.source} · map ${channel} of ${d.channels}`;
    const k = paintMap(this.stage, d, channel, this.deps.style(d, channel));
    if (k) paintTaps(this.stage, k, d, taps);
    this.stage.title = `${conv.source} · map ${channel}: the kernel's taps (orange)`;
  }

  private renderPool(pool: TraceStep, f: Frame): void {
    const d = this.poolData;
    if (!d || !pool.window) return;
    const style = this.deps.style(d, pool.filter);
    this.detail.replaceChildren(...poolDetail(pool, f, d, style));
    const k = paintMap(this.stage, d, pool.filter, style);
    this.stage.hidden = false;
    if (k) paintPoolWindow(this.stage, k, pool, f);
  }
}
