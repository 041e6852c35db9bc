/**
 * The hovered cell of one rendered view: the read-out of its value, its marks on the grid and
 * the detail maps, its receptive field on the input image (from the layer's geometry, or asked
 * of the kernel when the browser has none), and the `hover` trait both ways (sent throttled;
 * a hover set from Python is followed, switching layer first when needed).
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../dom";
import { fmt3 } from "../format";
import { moveCell, receptiveField } from "../layout";
import { StaleError, type Store } from "../model/store";
import { rangeMode } from "../model/traits";
import { channelReady } from "../stats";
import type { Cell, Hover, Traits } from "../types";
import type { DetailView } from "./detail";
import type { GridCell, GridView } from "./grid";
import type { InputView } from "./input";
import type { Painter } from "./paint";
import { rankOf } from "./series";
import type { ViewState } from "./state";

/** At most one `hover` trait update per this many ms (the last one is always sent). */
const HOVER_SEND_MS = 60;
/** Wait this long on a cell before asking the kernel for its receptive field. */
const FIELD_ASK_MS = 150;

/** Whether two cells are the same (both null counts as the same). */
export function sameCell(a: Hover | Cell | null, b: Hover | Cell | null): boolean {
  if (!a || !b) return a === b;
  return a.layer === b.layer && a.filter === b.filter && a.row === b.row && a.col === b.col;
}

/** What the hover marks besides the read-out (built by the App). */
export interface HoverTargets {
  grid: GridView;
  detail: DetailView;
  input: InputView;
  paint: Painter;
}

export class HoverView {
  /** The read-out: layer, filter, cell and value of the hovered cell, as text. */
  readonly readout = h("div", "fmw-readout");
  /** The hover from the trait, waiting for its layer to load. */
  private pending: Hover | null = null;
  private lastSent: Hover | null = null;
  /** Whether the hovered cell came from the pointer or keys here (not from the trait). */
  private fromUser = false;
  private sendTimer: ReturnType<typeof setTimeout> | null = null;
  private fieldTimer: ReturnType<typeof setTimeout> | null = null;
  /** Layers for which the kernel refused a get_trace used for hover fields (no local geometry). */
  private readonly fieldFailed = new Set<string>();

  constructor(
    private readonly model: AnyModel<Traits>,
    private readonly store: Store,
    private readonly s: ViewState,
    private readonly t: HoverTargets,
  ) {
    this.readout.setAttribute("aria-live", "polite");
  }

  /** Hovers `cell` (null: nothing); `fromUser` also sends it to the `hover` trait. */
  set(cell: GridCell | null, fromUser: boolean): void {
    const d = this.s.data;
    if (cell && (!d || cell.filter < 0 || cell.filter >= d.channels)) cell = null;
    if (cell && d) {
      const c = moveCell(cell.row, cell.col, 0, 0, d.height, d.width);
      cell = { filter: cell.filter, ...c };
    }
    const cur = this.s.hover;
    const same =
      cell === cur ||
      (cell && cur && cell.filter === cur.filter && cell.row === cur.row && cell.col === cur.col);
    if (same) return;
    const t0 = performance.now();
    this.s.hover = cell;
    this.fromUser = fromUser;
    this.t.paint.paintOverlay();
    this.t.detail.mark(cell);
    this.updateReadout();
    if (rangeMode(this.model) === "map") this.t.paint.paintLegend();
    this.updateField();
    if (fromUser) this.send();
    performance.measure("fmw:hover", { start: t0 }); // read by benchmarks/
  }

  /** The `hover` trait changed: follow it (switching layer first), unless it is our echo. */
  onTrait(): void {
    const hv = this.model.get("hover");
    if (sameCell(hv, this.lastSent)) return; // our own echo
    this.lastSent = hv;
    if (!hv) {
      this.set(null, false);
      return;
    }
    const spec = this.s.spec;
    if (!spec || hv.layer !== spec.name) {
      if (this.s.layers.some((l) => l.name === hv.layer)) {
        this.pending = hv;
        this.model.set("layer", hv.layer);
        this.model.save_changes();
      }
      return;
    }
    this.set({ filter: hv.filter, row: hv.row, col: hv.col }, false);
    this.t.grid.reveal(hv.filter);
  }

  /** Layer `layer` was loaded: hover the cell the trait asked for before it was shown. */
  applyPending(layer: string): void {
    const ph = this.pending;
    this.pending = null;
    if (ph && ph.layer === layer) {
      this.set({ filter: ph.filter, row: ph.row, col: ph.col }, false);
      this.t.grid.reveal(ph.filter);
    }
  }

  /** The hovered cell with its layer and value (null: none, or its map is still arriving). */
  value(): Hover | null {
    const d = this.s.data;
    const c = this.s.hover;
    if (!d || !c || !this.s.spec || !channelReady(d, c.filter)) return null;
    const v = d.values[c.filter * d.height * d.width + c.row * d.width + c.col] as number;
    return { layer: this.s.spec.name, filter: c.filter, row: c.row, col: c.col, value: v };
  }

  /** Writes the read-out (text and `data-*` attributes) for the hovered cell. */
  updateReadout(): void {
    const hv = this.value();
    const ds = this.readout.dataset;
    if (!hv) {
      const c = this.s.hover;
      this.readout.textContent = !this.s.data
        ? ""
        : c // a map still arriving: no value until it is all in
          ? `${this.s.spec?.name ?? ""}\nfilter ${c.filter} · row ${c.row} · col ${c.col}\nloading…`
          : "hover a map for its values\nclick a cell to trace it";
      for (const k of ["layer", "filter", "row", "col", "value", "depth"]) delete ds[k];
      return;
    }
    const pre = this.s.data?.preActivation ? " (pre-activation)" : "";
    const z = this.s.data?.slice;
    const depth = z === undefined ? "" : `depth ${z} · `;
    const at =
      rankOf(this.s.spec) === 1 ? `step ${hv.col}` : `${depth}row ${hv.row} · col ${hv.col}`;
    this.readout.textContent = `${hv.layer}${pre}\nfilter ${hv.filter} · ${at}\nvalue ${fmt3(hv.value)}`;
    ds.layer = hv.layer;
    ds.filter = String(hv.filter);
    ds.row = String(hv.row);
    ds.col = String(hv.col);
    ds.value = String(hv.value);
    if (z === undefined) delete ds.depth;
    else ds.depth = String(z);
  }

  /** The maps under the hovered cell changed (a layer's last part arrived): show its value. */
  refresh(): void {
    this.updateReadout();
    this.updateField();
    if (this.fromUser) this.send();
  }

  /** The input changed: layers the kernel could not trace may trace now. */
  reset(): void {
    this.fieldFailed.clear();
  }

  dispose(): void {
    if (this.sendTimer) clearTimeout(this.sendTimer);
    if (this.fieldTimer) clearTimeout(this.fieldTimer);
  }

  /** Outlines the hovered cell's receptive field on the input image. */
  private updateField(): void {
    if (this.fieldTimer) clearTimeout(this.fieldTimer);
    this.fieldTimer = null;
    const hv = this.value();
    const img = this.t.input.imageSize;
    const geo = this.store.geometry(this.s.spec);
    if (!hv || !img) {
      this.s.hoverField = null;
      this.t.paint.outlineInput();
      return;
    }
    if (geo) {
      this.s.hoverField = receptiveField(geo, hv.row, hv.col);
      this.t.paint.outlineInput();
      return;
    }
    if (this.fieldFailed.has(hv.layer)) {
      this.s.hoverField = null;
      this.t.paint.outlineInput();
      return;
    }
    // no local geometry: ask the kernel (debounced) for this cell's receptive field
    this.fieldTimer = setTimeout(() => {
      const cell: Cell = { layer: hv.layer, filter: hv.filter, row: hv.row, col: hv.col };
      this.store.trace(cell).then(
        (t) => {
          const now = this.value();
          if (!now || !sameCell(now, cell)) return;
          this.s.hoverField = t.receptive_field ?? null;
          this.t.paint.outlineInput();
        },
        (e) => {
          if (!(e instanceof StaleError)) this.fieldFailed.add(cell.layer);
        },
      );
    }, FIELD_ASK_MS);
  }

  /** Throttled hover → trait (trailing edge always sent). */
  private send(): void {
    if (this.sendTimer) return;
    this.sendTimer = setTimeout(() => {
      this.sendTimer = null;
      const hv = this.value();
      if (sameCell(hv, this.lastSent)) return;
      const wire = hv && { ...hv, value: Number.isFinite(hv.value) ? hv.value : null };
      this.lastSent = hv;
      this.model.set("hover", wire as Hover | null);
      this.model.save_changes();
    }, HOVER_SEND_MS);
  }
}
