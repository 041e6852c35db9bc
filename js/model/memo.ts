/**
 * Replies kept per Store (so every view of a model shares them) without touching the Store
 * itself: the filter card's examples and feature visualisations, keyed by what was asked.
 * A rejected request is forgotten, so asking again retries it.
 */
import type { Store } from "./store";

const memos = new WeakMap<Store, Map<string, Map<string, Promise<unknown>>>>();

/** The memo named `kind` of `store` (made on first use). */
export function memoOf<T>(store: Store, kind: string): Map<string, Promise<T>> {
  let byKind = memos.get(store);
  if (!byKind) {
    byKind = new Map();
    memos.set(store, byKind);
  }
  let m = byKind.get(kind);
  if (!m) {
    m = new Map();
    byKind.set(kind, m);
  }
  return m as Map<string, Promise<T>>;
}

/** `memo[key]`, or the promise `start()` makes, kept until it rejects. */
export function remember<T>(memo: Map<string, Promise<T>>, key: string, start: () => Promise<T>) {
  const hit = memo.get(key);
  if (hit) return hit;
  const p = start();
  memo.set(key, p);
  p.catch(() => {
    if (memo.get(key) === p) memo.delete(key);
  });
  return p;
}
