/** Tiny DOM helpers. Text always goes in through textContent. */

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Collects cleanup functions; `listen` adds an event listener that `dispose` removes. */
export class Disposer {
  private readonly fns: (() => void)[] = [];

  add(fn: () => void): void {
    this.fns.push(fn);
  }

  listen<K extends keyof HTMLElementEventMap>(
    target: HTMLElement,
    type: K,
    fn: (ev: HTMLElementEventMap[K]) => void,
    opts?: AddEventListenerOptions,
  ): void {
    target.addEventListener(type, fn, opts);
    this.fns.push(() => target.removeEventListener(type, fn, opts));
  }

  dispose(): void {
    for (const fn of this.fns.splice(0).reverse()) fn();
  }
}

/** Canvas pixel coordinates of a pointer event (canvas may be CSS-scaled). */
export function canvasPoint(canvas: HTMLCanvasElement, ev: MouseEvent): { x: number; y: number } {
  const r = canvas.getBoundingClientRect();
  const sx = r.width > 0 ? canvas.width / r.width : 1;
  const sy = r.height > 0 ? canvas.height / r.height : 1;
  return { x: (ev.clientX - r.left) * sx, y: (ev.clientY - r.top) * sy };
}

export function ctx2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D | null {
  return canvas.getContext("2d");
}

/**
 * Calls `click(cell, ev)` for a click on `el` with the cell that was under the pointer when
 * it was pressed. Pointer events carry exact (fractional) coordinates, like the pointermove
 * that highlighted the cell; a click's are whole pixels and, within a pixel of a cell edge,
 * fall in the neighbouring cell, so the cell traced would not be the one highlighted.
 */
export function listenCellClick<C>(
  d: Disposer,
  el: HTMLElement,
  pick: (ev: MouseEvent) => C | null,
  click: (cell: C, ev: MouseEvent) => void,
): void {
  let pressed: { cell: C | null; x: number; y: number } | null = null;
  d.listen(el, "pointerdown", (ev) => {
    pressed = { cell: pick(ev), x: ev.clientX, y: ev.clientY };
  });
  d.listen(el, "click", (ev) => {
    const p = pressed;
    pressed = null;
    const near = p !== null && Math.abs(p.x - ev.clientX) <= 1 && Math.abs(p.y - ev.clientY) <= 1;
    const cell = p !== null && near ? p.cell : pick(ev);
    if (cell) click(cell, ev);
  });
}
