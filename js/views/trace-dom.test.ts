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
});
