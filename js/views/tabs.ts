/** The two views of a widget as a pair of toggle buttons: the network, or one layer's maps. */
import { h } from "../dom";

export type ViewMode = "overview" | "grid" | "compare";

export class ViewTabs {
  readonly el = h("div", "fmw-tabs");

  constructor(pick: (mode: ViewMode) => void) {
    this.el.setAttribute("role", "group");
    this.el.setAttribute("aria-label", "view");
    for (const [mode, label, tip] of [
      ["overview", "Network", "every layer at once; hover a cell to see what it reads"],
      ["grid", "Layer maps", "every map of one layer, its values and traces"],
      ["compare", "Compare", "two inputs' maps side by side, and how much each layer changes"],
    ] as const) {
      const b = h("button", "fmw-tab", label);
      b.type = "button";
      b.dataset.view = mode;
      b.title = tip;
      b.addEventListener("click", () => pick(mode));
      this.el.append(b);
    }
  }

  /** Marks the shown view. */
  show(mode: ViewMode): void {
    for (const b of this.el.querySelectorAll<HTMLButtonElement>(".fmw-tab")) {
      b.setAttribute("aria-pressed", String(b.dataset.view === mode));
    }
  }
}
