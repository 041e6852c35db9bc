/** Typed events: `on` subscribes (and returns the unsubscribe function), `emit` tells every listener. */
export class Emitter<E> {
  private readonly listeners = new Map<keyof E, Set<(v: never) => void>>();

  on<K extends keyof E>(event: K, cb: (v: E[K]) => void): () => void {
    const set = this.listeners.get(event) ?? new Set();
    this.listeners.set(event, set);
    set.add(cb as (v: never) => void);
    return () => {
      set.delete(cb as (v: never) => void);
    };
  }

  emit<K extends keyof E>(event: K, v: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const cb of [...set]) (cb as (v: E[K]) => void)(v);
  }

  /** Forgets every listener. */
  clear(): void {
    this.listeners.clear();
  }
}
