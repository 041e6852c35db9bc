/**
 * A byte-capped LRU cache. Map iteration order is insertion order, so the first key is the
 * least recently used; `get` re-inserts to mark use.
 */
export class ByteLru<V> {
  private readonly items = new Map<string, { value: V; bytes: number }>();
  private total = 0;

  /**
   * @param capBytes Upper bound on the sum of entry sizes. An entry larger than the cap is
   *   still kept (alone) so the layer on screen can always be drawn.
   * @param onEvict Called for each evicted key.
   */
  constructor(
    readonly capBytes: number,
    private readonly onEvict?: (key: string) => void,
  ) {}

  get size(): number {
    return this.items.size;
  }

  get bytes(): number {
    return this.total;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  get(key: string): V | undefined {
    const e = this.items.get(key);
    if (!e) return undefined;
    this.items.delete(key);
    this.items.set(key, e);
    return e.value;
  }

  set(key: string, value: V, bytes: number): void {
    const old = this.items.get(key);
    if (old) {
      this.total -= old.bytes;
      this.items.delete(key);
    }
    this.items.set(key, { value, bytes });
    this.total += bytes;
    for (const [k, e] of this.items) {
      if (this.total <= this.capBytes || k === key) break;
      this.items.delete(k);
      this.total -= e.bytes;
      this.onEvict?.(k);
    }
  }

  delete(key: string): void {
    const e = this.items.get(key);
    if (e) {
      this.total -= e.bytes;
      this.items.delete(key);
    }
  }

  clear(): void {
    this.items.clear();
    this.total = 0;
  }

  keys(): string[] {
    return [...this.items.keys()];
  }
}
