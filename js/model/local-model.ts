/**
 * An anywidget model that lives in the page: the traits in a plain object and Backbone-style
 * events (`change:<name>`, `change`, `msg:custom`), with no widget manager or kernel behind it.
 * The widget code sees the same API as in Jupyter (get/set/on/off/save_changes/send).
 *
 * Two subclasses decide what `send` does: the static export's `StaticModel` answers requests
 * from the data embedded in the page (../export/model.ts), and the unit tests' `FakeModel`
 * records them for the test to answer (../testing/fake-model.ts).
 */
import type { AnyModel } from "@anywidget/types";

type Callback = (...args: unknown[]) => void;
/** What `on`/`off` accept: any callback (anywidget's handlers take typed arguments). */
type Handler = (...args: never[]) => void;

/** Equal by value, as Backbone compares a trait before firing `change`. */
function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

export abstract class LocalModel<T extends Record<string, unknown>> implements AnyModel<T> {
  readonly state: T;
  readonly widget_manager = {
    get_model: (): Promise<never> =>
      Promise.reject(new Error("this widget runs without a widget manager")),
  };
  private readonly handlers = new Map<string, Set<Callback>>();

  constructor(state: T) {
    this.state = state;
  }

  get<K extends keyof T>(key: K): T[K] {
    return this.state[key];
  }

  /** Sets a trait; fires `change:<key>` (then `change`) when the value differs. */
  set<K extends keyof T>(key: K, value: T[K]): void {
    const old = this.state[key];
    this.state[key] = value;
    if (!same(old, value)) {
      this.emit(`change:${String(key)}`, this, value);
      this.emit("change", this);
    }
  }

  /** Subscribes `cb` to one event or several (separated by spaces). */
  on(names: string, cb: Handler): void {
    for (const name of names.split(/\s+/).filter(Boolean)) {
      let set = this.handlers.get(name);
      if (!set) {
        set = new Set();
        this.handlers.set(name, set);
      }
      set.add(cb as Callback);
    }
  }

  /** Removes `cb` from the named events, every callback of them, or (no names) everything. */
  off(names?: string | null, cb?: Handler | null): void {
    if (!names) {
      this.handlers.clear();
      return;
    }
    for (const name of names.split(/\s+/).filter(Boolean)) {
      if (cb) this.handlers.get(name)?.delete(cb as Callback);
      else this.handlers.delete(name);
    }
  }

  /** How many callbacks listen to `name` (tests check that views clean up). */
  listenerCount(name: string): number {
    return this.handlers.get(name)?.size ?? 0;
  }

  /** Nothing to save to: the state lives here. */
  save_changes(): void {}

  /** A custom message from the widget (what a kernel would receive). */
  abstract send(content: unknown, callbacks?: unknown, buffers?: unknown): void;

  /** Calls the callbacks of `name` (a copy of the list: a callback may unsubscribe). */
  protected emit(name: string, ...args: unknown[]): void {
    for (const cb of [...(this.handlers.get(name) ?? [])]) cb(...args);
  }
}
