import { describe, expect, it } from "vitest";
import { ByteLru } from "./lru";

describe("ByteLru", () => {
  it("evicts least recently used entries past the byte cap", () => {
    const evicted: string[] = [];
    const c = new ByteLru<number>(10, (k) => evicted.push(k));
    c.set("a", 1, 4);
    c.set("b", 2, 4);
    expect(c.get("a")).toBe(1); // a is now most recent
    c.set("c", 3, 4); // 12 > 10: evict b
    expect(evicted).toEqual(["b"]);
    expect(c.keys()).toEqual(["a", "c"]);
    expect(c.bytes).toBe(8);
  });
  it("keeps a single oversized entry", () => {
    const c = new ByteLru<number>(10);
    c.set("a", 1, 4);
    c.set("big", 2, 50);
    expect(c.keys()).toEqual(["big"]);
    expect(c.bytes).toBe(50);
  });
  it("replaces, deletes and clears", () => {
    const c = new ByteLru<number>(100);
    c.set("a", 1, 10);
    c.set("a", 2, 20);
    expect(c.get("a")).toBe(2);
    expect(c.bytes).toBe(20);
    c.delete("a");
    expect(c.has("a")).toBe(false);
    c.set("b", 1, 5);
    c.clear();
    expect([c.size, c.bytes]).toEqual([0, 0]);
  });
});
