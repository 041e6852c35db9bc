/**
 * The overview's header buttons: one per column in view (name, kind, `24×24×8` shape; a
 * collapsed block's button opens it), the focus target of the strip's keyboard. Only the
 * columns in view have one; a focused button outlives scrolling away.
 */
import { h } from "../dom";
import { pathParts, shapeLabel } from "../format";
import type { LayerSpec } from "../types";
import { OV } from "./layout";
import type { Strip } from "./strip";
import type { Column } from "./tree";

/** The kind line of a column: fmwidget's kind, or the Keras class for "other" layers. */
function kindWord(spec: LayerSpec): string {
  return spec.kind === "other" ? String(spec.class_name) : String(spec.kind).replace("_", " ");
}

/** `name` without the prefix of the block it sits in ("conv2_block1_0_bn" in conv2_block1: "0_bn"). */
export function shortName(name: string, parent: string): string {
  const parentLeaf = pathParts(parent).leaf;
  for (const p of [parent, parentLeaf]) {
    if (
      p &&
      name.length > p.length + 1 &&
      name.startsWith(p) &&
      "_/".includes(name[p.length] as string)
    ) {
      return name.slice(p.length + 1);
    }
  }
  return name;
}

export class ColumnHeads {
  private readonly heads = new Map<number, HTMLButtonElement>();

  /** `click(col, spec)` runs when a column's button is clicked. */
  constructor(
    private readonly parent: HTMLElement,
    private readonly click: (col: Column, spec: LayerSpec) => void,
  ) {}

  /** Removes every button (a new layout). */
  clear(): void {
    for (const b of this.heads.values()) b.remove();
    this.heads.clear();
  }

  focus(i: number): void {
    this.heads.get(i)?.focus();
  }

  /** Buttons for columns `[i0, i1)` of `strip`, and none for the others (but a focused one). */
  sync(strip: Strip, i0: number, i1: number): void {
    for (const [i, b] of this.heads) {
      if (i < i0 || i >= i1) {
        if (b.contains(document.activeElement)) continue; // keep the focused one
        b.remove();
        this.heads.delete(i);
      }
    }
    const top = strip.bands();
    for (let i = i0; i < i1; i++) {
      if (this.heads.has(i)) continue;
      const { col, box, spec } = strip.at(i);
      if (!spec) continue;
      const b = h("button", "fmw-ov-col");
      b.type = "button";
      b.dataset.col = String(i);
      b.dataset.index = String(col.layer);
      b.dataset.layer = spec.name;
      b.dataset.kind = box.kind;
      b.style.left = `${box.x - OV.GAP / 2 + 2}px`;
      b.style.top = `${top.head}px`;
      b.style.width = `${box.w + OV.GAP - 4}px`;
      b.style.height = `${top.thumbs - top.head - 2}px`;
      const shape = shapeLabel(spec);
      const parent = strip.parentLabel(i);
      if (col.group) {
        b.dataset.group = col.group.id;
        b.setAttribute("aria-expanded", "false");
        b.title = `${col.group.label}: a block of ${col.group.layers} layers (click to open it)\nits output: ${spec.name} ${shape}`;
        b.append(
          h("span", "fmw-ov-name", `${shortName(col.group.label, parent)} ▸`),
          h("span", "fmw-ov-kind", `${col.group.layers} layers`),
        );
      } else {
        const leaf = shortName(pathParts(spec.name).leaf, parent);
        b.title = `${spec.name}\n${spec.class_name} · ${shape}\nclick: open its maps`;
        const name = box.kind === "op" ? "" : leaf;
        b.append(
          h("span", "fmw-ov-name", name),
          h("span", "fmw-ov-kind", box.kind === "op" ? "" : kindWord(spec)),
        );
      }
      b.append(h("span", "fmw-ov-shape", box.kind === "op" ? "" : shape));
      b.addEventListener("click", () => this.click(col, spec));
      this.parent.append(b);
      this.heads.set(i, b);
    }
  }
}
