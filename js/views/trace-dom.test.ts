// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import type { LayerData, TraceMsg } from "../types";
import { TraceView } from "./trace";

const HOSTILE = "<img src=x onerror=alert(1)>/<b>x</b>";

describe("TraceView conv arithmetic", () => {
  it("names terms by the input layer's maps, as text only", () => {
    const view = new TraceView({
      data: () => new Promise<LayerData>(() => {}),
      style: () => {
        throw new Error("not drawn");
      },
      inputOf: (layer) => (layer === "conv2" ? HOSTILE : null),
    });
    const msg: TraceMsg = {
      steps: [{ layer: "conv2", kind: "conv", filter: 0, row: 3, col: 7, value: 2 }],
      conv: {
        layer: "conv2",
        filter: 0,
        bias: 0.5,
        total: 2,
        terms: [{ channel: 6, contribution: 1.5 }],
        n_channels: 1,
      },
    } as TraceMsg;
    view.show(msg);
    expect(view.el.querySelector("img, b")).toBeNull();
    const labels = [...view.el.querySelectorAll(".fmw-conv tr")].map(
      (tr) => tr.firstElementChild?.textContent,
    );
    expect(labels).toEqual(["input map", `${HOSTILE} · map 6`, "bias", "= pre-activation"]);
    expect(view.el.querySelector(".fmw-conv")?.textContent).toContain(`the maps of ${HOSTILE}`);
  });

  it("says in words, as text, that the chain follows the winner, and marks the clicked cell", () => {
    const view = new TraceView({
      data: () => new Promise<LayerData>(() => {}),
      style: () => {
        throw new Error("not drawn");
      },
    });
    const rf = { row0: 0, row1: 3, col0: 0, col1: 3 };
    const step = { filter: 1, row: 3, col: 8, receptive_field: rf };
    const msg = {
      steps: [
        { ...step, layer: HOSTILE, kind: "conv", value: 2, pre_activation: true },
        { ...step, layer: HOSTILE, kind: "activation", value: 2, activation: "relu" },
        {
          ...step,
          layer: "pool",
          kind: "pooling",
          row: 1,
          col: 4,
          value: 2,
          window: { row0: 2, row1: 4, col0: 8, col1: 10 },
          argmax: { row: 3, col: 8 },
        },
      ],
      receptive_field: { row0: 1, row1: 4, col0: 2, col1: 5 },
      clicked: { layer: HOSTILE, filter: 1, row: 2, col: 9, value: 0.5 },
      note: `You clicked (2, 9) of ${HOSTILE}; the max of its pool window came from (3, 8).`,
    } as TraceMsg;
    view.show(msg);
    expect(view.el.querySelector("img, b")).toBeNull();
    expect(view.el.querySelector(".fmw-trace-note")?.textContent).toBe(msg.note);
    const cards = [...view.el.querySelectorAll<HTMLElement>(".fmw-trace-step")];
    expect(cards.map((c) => c.dataset.clicked)).toEqual(["elsewhere", "elsewhere", undefined]);
    const marks = cards.map((c) => c.querySelector(".fmw-trace-clicked")?.textContent ?? null);
    expect(marks).toEqual(["you clicked (2, 9)", "you clicked (2, 9) = 0.5", null]);
    expect(view.el.textContent).toContain(
      "input patch of the clicked cell (orange box on the image): rows 1–3, cols 2–4; the chain's cell (3, 8) sees rows 0–2, cols 0–2",
    );
  });
});
