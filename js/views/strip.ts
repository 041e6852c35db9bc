/** The strip of layers in forward order: one focusable listbox, arrows move the selection. */
import { Disposer, h } from "../dom";
import { fmtShape, pathParts, shapeLabel } from "../format";
import type { LayerSpec } from "../types";

export class LayerStrip {
  readonly el = h("div", "fmw-strip fmw-pane");
  private items: HTMLButtonElement[] = [];
  private layers: LayerSpec[] = [];
  private selected = -1;
  private readonly d = new Disposer();

  constructor(private readonly onSelect: (name: string) => void) {
    this.el.setAttribute("role", "listbox");
    this.el.setAttribute("aria-label", "layers");
    this.el.setAttribute("aria-orientation", "horizontal");
    this.d.listen(this.el, "click", (ev) => {
      const btn = (ev.target as HTMLElement).closest<HTMLButtonElement>(".fmw-layer");
      if (!btn || !this.el.contains(btn)) return;
      const spec = this.layers[Number(btn.dataset.index)];
      if (spec) this.onSelect(spec.name);
    });
    this.d.listen(this.el, "keydown", (ev) => this.onKey(ev));
  }

  setLayers(layers: LayerSpec[]): void {
    this.layers = layers;
    this.items = layers.map((spec, i) => {
      const btn = h("button", "fmw-layer");
      btn.type = "button";
      btn.dataset.index = String(spec.index ?? i);
      btn.setAttribute("role", "option");
      btn.tabIndex = -1;
      const { prefix, leaf } = pathParts(String(spec.name));
      const name = h("span", "fmw-layer-name");
      if (prefix) name.append(h("span", "fmw-layer-prefix", prefix));
      name.append(document.createTextNode(leaf));
      btn.title = `${spec.name}\n${spec.class_name} ${fmtShape(spec.shape ?? [])}`;
      btn.append(name, h("span", "fmw-layer-meta", `${spec.kind} ${shapeLabel(spec)}`));
      return btn;
    });
    this.el.replaceChildren(...this.items);
    this.selected = -1;
  }

  /** Highlights the layer with this name (no callback). */
  select(name: string): void {
    const i = this.layers.findIndex((l) => l.name === name);
    this.selected = i;
    this.items.forEach((b, j) => {
      b.setAttribute("aria-selected", String(j === i));
      b.tabIndex = j === i || (i < 0 && j === 0) ? 0 : -1;
    });
    this.items[i]?.scrollIntoView?.({ block: "nearest", inline: "nearest" });
  }

  /** Marks the layers taking part in the current trace. */
  markLinked(names: Set<string>): void {
    this.items.forEach((b, j) => {
      b.classList.toggle("fmw-trace-link", names.has(this.layers[j]?.name ?? "\u0000"));
    });
  }

  private onKey(ev: KeyboardEvent): void {
    const n = this.layers.length;
    const cur = Math.max(this.selected, 0);
    const targets: Record<string, number> = {
      ArrowRight: cur + 1,
      ArrowDown: cur + 1,
      ArrowLeft: cur - 1,
      ArrowUp: cur - 1,
      Home: 0,
      End: n - 1,
    };
    const t = targets[ev.key];
    if (t === undefined || n === 0) return;
    ev.preventDefault();
    const next = Math.max(0, Math.min(n - 1, t));
    const spec = this.layers[next];
    if (!spec) return;
    this.onSelect(spec.name);
    this.items[next]?.focus();
  }

  dispose(): void {
    this.d.dispose();
  }
}
