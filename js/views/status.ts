/**
 * The kernel's `status` trait while `set_input` computes: `{phase, done, total}` or null.
 * Shown as one line of text (textContent only) with `data-progress="done/total"`.
 */
import type { Status } from "../types";

const PHASES: Record<string, string> = {
  forward: "running the model… layer",
  layers: "summarising layers…",
  examples: "finding top examples… sample",
  visualize: "feature visualisation… step",
};

function count(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null;
}

/** The line to show for a status (null when there is nothing to show). */
export function statusText(status: Status | null | undefined): string | null {
  if (!status || typeof status !== "object") return null;
  const label = PHASES[String(status.phase)] ?? "working…";
  const done = count(status.done);
  const total = count(status.total);
  if (done === null || !total) return label.replace(/ (layer|sample|step)$/, "");
  return `${label} ${Math.min(done, total)} of ${total}`;
}

/** `data-progress` for a status ("done/total"), or null. */
export function statusProgress(status: Status | null | undefined): string | null {
  if (!status || typeof status !== "object") return null;
  const done = count(status.done);
  const total = count(status.total);
  return done === null || !total ? null : `${Math.min(done, total)}/${total}`;
}

/** Puts a status on `el` (class `fmw-status`): text, `data-progress`, hidden when idle. */
export function showStatus(el: HTMLElement, status: Status | null | undefined): void {
  const text = statusText(status);
  el.textContent = text ?? "";
  el.hidden = text === null;
  const progress = statusProgress(status);
  if (progress === null) delete el.dataset.progress;
  else el.dataset.progress = progress;
}
